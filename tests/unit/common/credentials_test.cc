#include "common/credentials.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "gtest/gtest.h"

namespace ghostpeer {
namespace {

std::string WriteTemp(const std::string& content) {
  char path[] = "/tmp/gp-cred-XXXXXX";
  const int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << content;
  return path;
}

TEST(CredentialsTest, TokenFileIsTrimmed) {
  const std::string path = WriteTemp("  s3cret-token\n");
  auto token = ReadTokenFile(path);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, "s3cret-token");
  unlink(path.c_str());
}

TEST(CredentialsTest, LoopbackEndpoints) {
  for (const char* endpoint :
       {"127.0.0.1:7070", "127.4.5.6:1", "localhost:7070", "LOCALHOST:1",
        "[::1]:7070", "dns:///localhost:7070", "ipv4:127.0.0.1:7070",
        "ipv6:[::1]:7070", " 127.0.0.1:7070 "}) {
    EXPECT_TRUE(IsLoopbackEndpoint(endpoint)) << endpoint;
  }
  for (const char* endpoint :
       {"10.0.0.5:7070", "0.0.0.0:7070", "[::]:7070", "agg.example:7070",
        "localhost.example:7070", "128.0.0.1:7070", "[fd00::1]:7070",
        "dns:///agg:7070", ""}) {
    EXPECT_FALSE(IsLoopbackEndpoint(endpoint)) << endpoint;
  }
}

TEST(CredentialsTest, ClearTextTokenWarning) {
  EXPECT_EQ(ClearTextTokenWarning("10.0.0.5:7070", false, false), "");
  EXPECT_EQ(ClearTextTokenWarning("10.0.0.5:7070", true, true), "");
  EXPECT_EQ(ClearTextTokenWarning("127.0.0.1:7070", true, false), "");
  EXPECT_NE(ClearTextTokenWarning("10.0.0.5:7070", true, false)
                .find("10.0.0.5:7070 in clear text"),
            std::string::npos);
}

TEST(CredentialsTest, BadTokenFiles) {
  struct Case {
    const char* name;
    const char* content;
  };
  for (const Case& c :
       {Case{"empty", ""}, Case{"blank", " \n\t"}, Case{"two tokens", "a b\n"},
        Case{"control char",
             "ab\x01"
             "c"}}) {
    const std::string path = WriteTemp(c.content);
    EXPECT_EQ(ReadTokenFile(path).status().code(),
              absl::StatusCode::kInvalidArgument)
        << c.name;
    unlink(path.c_str());
  }
  EXPECT_EQ(ReadTokenFile("/nonexistent/token").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(CredentialsTest, ChannelCredentialsValidation) {
  EXPECT_TRUE(MakeChannelCredentials({}).ok());
  EXPECT_EQ(
      MakeChannelCredentials({"", "cert.pem", "key.pem", ""}).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      MakeChannelCredentials({"ca.pem", "cert.pem", "", ""}).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeChannelCredentials({"/nonexistent/ca.pem", "", "", ""})
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

TEST(CredentialsTest, ServerCredentialsValidation) {
  auto plaintext = MakeServerCredentials({});
  ASSERT_TRUE(plaintext.ok());
  EXPECT_EQ(*plaintext, nullptr);
  EXPECT_EQ(MakeServerCredentials({"cert.pem", "", ""}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeServerCredentials({"", "", "ca.pem"}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CredentialsTest, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
  EXPECT_FALSE(ConstantTimeEquals("abcd", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("", "a"));
}

}  // namespace
}  // namespace ghostpeer
