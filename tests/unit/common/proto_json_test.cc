#include "common/proto_json.h"

#include <memory>
#include <string>
#include <vector>

#include "ghostpeer/v1/ingest.pb.h"
#include "ghostpeer/v1/model.pb.h"
#include "ghostpeer/v1/query.pb.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace ghostpeer {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// The reference: protobuf's own printer with ghostpeer's options.
std::string ProtobufJson(const Message& message, bool indented) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  options.add_whitespace = indented;
  std::string json;
  EXPECT_TRUE(
      google::protobuf::util::MessageToJsonString(message, &json, options)
          .ok());
  return json;
}

const char kAwkwardText[] =
    "quote\" backslash\\ <tag> & \n\t\x01\x7f caf\xc3\xa9 \xe2\x80\xa8 "
    "\xf0\x9f\x91\xbb";

// Sets every field of `message` to something other than its default (lists
// get two elements), `depth` levels of messages down.
void Fill(Message* message, int depth) {
  const Descriptor* descriptor = message->GetDescriptor();
  const Reflection* r = message->GetReflection();
  if (descriptor->full_name() == "google.protobuf.Timestamp" ||
      descriptor->full_name() == "google.protobuf.Duration") {
    r->SetInt64(message, descriptor->FindFieldByNumber(1), 1795470856);
    r->SetInt32(message, descriptor->FindFieldByNumber(2), 120500000);
    return;
  }
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    const int copies = field->is_repeated() ? 2 : 1;
    for (int copy = 0; copy < copies; ++copy) {
      const int n = field->number() * 7 + copy;
      const bool many = field->is_repeated();
      switch (field->cpp_type()) {
        case FieldDescriptor::CPPTYPE_INT32:
          many ? r->AddInt32(message, field, -n)
               : r->SetInt32(message, field, -n);
          break;
        case FieldDescriptor::CPPTYPE_INT64:
          many ? r->AddInt64(message, field, -(int64_t{1} << 60) - n)
               : r->SetInt64(message, field, -(int64_t{1} << 60) - n);
          break;
        case FieldDescriptor::CPPTYPE_UINT32:
          many ? r->AddUInt32(message, field, 4000000000u + n)
               : r->SetUInt32(message, field, 4000000000u + n);
          break;
        case FieldDescriptor::CPPTYPE_UINT64:
          many ? r->AddUInt64(message, field, (uint64_t{1} << 63) + n)
               : r->SetUInt64(message, field, (uint64_t{1} << 63) + n);
          break;
        case FieldDescriptor::CPPTYPE_DOUBLE:
          many ? r->AddDouble(message, field, 0.1 * n)
               : r->SetDouble(message, field, 0.1 * n);
          break;
        case FieldDescriptor::CPPTYPE_FLOAT:
          many ? r->AddFloat(message, field, 0.1f * n)
               : r->SetFloat(message, field, 0.1f * n);
          break;
        case FieldDescriptor::CPPTYPE_BOOL:
          many ? r->AddBool(message, field, true)
               : r->SetBool(message, field, true);
          break;
        case FieldDescriptor::CPPTYPE_ENUM: {
          const auto* type = field->enum_type();
          const int number = type->value(type->value_count() - 1)->number();
          many ? r->AddEnumValue(message, field, number)
               : r->SetEnumValue(message, field, number);
          break;
        }
        case FieldDescriptor::CPPTYPE_STRING: {
          const std::string text =
              field->type() == FieldDescriptor::TYPE_BYTES
                  ? std::string("\x00\xff\x10 bytes", 9)
                  : std::string(kAwkwardText) + std::to_string(n);
          many ? r->AddString(message, field, text)
               : r->SetString(message, field, text);
          break;
        }
        case FieldDescriptor::CPPTYPE_MESSAGE:
          if (depth > 0) {
            Fill(many ? r->AddMessage(message, field)
                      : r->MutableMessage(message, field),
                 depth - 1);
          }
          break;
      }
    }
  }
}

// Every message type of ghostpeer's protos.
std::vector<const Descriptor*> GhostpeerMessages() {
  std::vector<const Descriptor*> out;
  for (const Descriptor* any :
       {v1::NodeSnapshot::descriptor(), v1::AgentMessage::descriptor(),
        v1::ListFindingsRequest::descriptor()}) {
    const google::protobuf::FileDescriptor* file = any->file();
    for (int i = 0; i < file->message_type_count(); ++i) {
      out.push_back(file->message_type(i));
    }
  }
  return out;
}

std::unique_ptr<Message> New(const Descriptor* descriptor) {
  return std::unique_ptr<Message>(
      google::protobuf::MessageFactory::generated_factory()
          ->GetPrototype(descriptor)
          ->New());
}

TEST(ProtoJsonTest, EveryMessageFilledIsTheJsonProtobufPrints) {
  const std::vector<const Descriptor*> messages = GhostpeerMessages();
  ASSERT_GT(messages.size(), 20u);
  for (const Descriptor* descriptor : messages) {
    std::unique_ptr<Message> message = New(descriptor);
    Fill(message.get(), 3);
    for (bool indented : {false, true}) {
      const std::string ours = ProtoToJson(
          *message, indented ? JsonLayout::kIndented : JsonLayout::kCompact);
      const nlohmann::json parsed = nlohmann::json::parse(ours, nullptr, false);
      ASSERT_FALSE(parsed.is_discarded()) << ours;
      EXPECT_EQ(parsed, nlohmann::json::parse(ProtobufJson(*message, indented)))
          << descriptor->full_name() << (indented ? " indented" : "");
    }
  }
}

TEST(ProtoJsonTest, EveryMessageEmptyIsTheJsonProtobufPrints) {
  for (const Descriptor* descriptor : GhostpeerMessages()) {
    std::unique_ptr<Message> message = New(descriptor);
    EXPECT_EQ(nlohmann::json::parse(ProtoToJson(*message)),
              nlohmann::json::parse(ProtobufJson(*message, false)))
        << descriptor->full_name();
  }
}

TEST(ProtoJsonTest, IndentedLayoutIsProtobufsByteForByte) {
  // Same key order as protobuf when no message field is set.
  v1::SocketRecord socket;
  socket.set_node("node-1");
  socket.set_local_ip("10.0.1.5");
  socket.set_remote_port(27017);
  socket.set_state(v1::TCP_STATE_CLOSE_WAIT);
  socket.set_inode(123456789012345);
  EXPECT_EQ(ProtoToJson(socket, JsonLayout::kIndented),
            ProtobufJson(socket, true));
  EXPECT_EQ(ProtoToJson(socket), ProtobufJson(socket, false));
}

TEST(ProtoJsonTest, TimesAndDurationsKeepOnlyTheDigitsTheyNeed) {
  v1::SnapshotStats stats;
  for (const auto& [seconds, nanos, want] :
       std::vector<std::tuple<int64_t, int32_t, std::string>>{
           {1, 0, "1s"},
           {0, 1500000, "0.001500s"},
           {2, 500000000, "2.500s"},
           {0, 7, "0.000000007s"},
           {-3, -250000000, "-3.250s"}}) {
    stats.mutable_duration()->set_seconds(seconds);
    stats.mutable_duration()->set_nanos(nanos);
    EXPECT_EQ(nlohmann::json::parse(ProtoToJson(stats))["duration"], want);
    EXPECT_EQ(nlohmann::json::parse(ProtoToJson(stats)),
              nlohmann::json::parse(ProtobufJson(stats, false)));
  }
  v1::NodeSnapshot snapshot;
  snapshot.mutable_taken_at()->set_seconds(0);
  EXPECT_EQ(nlohmann::json::parse(ProtoToJson(snapshot))["taken_at"],
            "1970-01-01T00:00:00Z");
  snapshot.mutable_taken_at()->set_seconds(1795470856);
  snapshot.mutable_taken_at()->set_nanos(788302000);
  EXPECT_EQ(nlohmann::json::parse(ProtoToJson(snapshot))["taken_at"],
            "2026-11-23T21:54:16.788302Z");
}

TEST(ProtoJsonTest, UnknownEnumValueIsItsNumber) {
  v1::SocketRecord socket;
  socket.set_state(static_cast<v1::TcpState>(99));
  EXPECT_EQ(nlohmann::json::parse(ProtoToJson(socket))["state"], 99);
  EXPECT_EQ(nlohmann::json::parse(ProtoToJson(socket)),
            nlohmann::json::parse(ProtobufJson(socket, false)));
}

TEST(ProtoJsonTest, InvalidUtf8BecomesReplacementCharacters) {
  // A comm is whatever bytes a process set; the JSON must stay valid.
  v1::SocketRecord socket;
  socket.set_comm(
      std::string("a\xff"
                  "b\xc3"
                  "c\xe2\x80"
                  "d\xed\xa0\x80",
                  11));
  const nlohmann::json parsed =
      nlohmann::json::parse(ProtoToJson(socket), nullptr, false);
  ASSERT_FALSE(parsed.is_discarded());
  EXPECT_EQ(parsed["comm"].get<std::string>(),
            "a\xef\xbf\xbd"
            "b\xef\xbf\xbd"
            "c\xef\xbf\xbd\xef\xbf\xbd"
            "d\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
}

TEST(ProtoJsonTest, AppendsAfterWhatIsThere) {
  v1::SnapshotStats stats;
  std::string out = "prefix ";
  AppendProtoJson(stats, JsonLayout::kCompact, &out);
  EXPECT_EQ(out.rfind("prefix {", 0), 0u) << out;
}

}  // namespace
}  // namespace ghostpeer
