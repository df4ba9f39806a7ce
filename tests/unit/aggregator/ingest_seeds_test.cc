// The ingest streams in tests/testdata/ingest/ seed the ingest fuzzers
// (tests/fuzz/). A seed the Engine refuses would start the fuzzers at the
// shallowest depth, so every stream must be accepted whole, and the
// vanished-peer stream must open a finding and resolve it.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "aggregator/engine.h"
#include "aggregator/validation.h"
#include "ghostpeer/v1/ingest.pb.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "tests/unit/aggregator/test_util.h"

namespace ghostpeer::aggregator {
namespace {

namespace fs = std::filesystem;

// The messages of one stream directory, in file-name order.
std::vector<v1::AgentMessage> ReadStream(const fs::path& directory) {
  std::vector<fs::path> files;
  for (const fs::directory_entry& entry : fs::directory_iterator(directory)) {
    if (entry.path().extension() == ".txtpb") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<v1::AgentMessage> messages;
  for (const fs::path& file : files) {
    std::ifstream in(file);
    const std::string text((std::istreambuf_iterator<char>(in)),
                           std::istreambuf_iterator<char>());
    v1::AgentMessage& message = messages.emplace_back();
    EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message))
        << file;
  }
  return messages;
}

// Replays `messages` as one stream (Hello first) and returns the Engine.
std::unique_ptr<Engine> Replay(const std::vector<v1::AgentMessage>& messages,
                               const Clock* clock, const std::string& stream) {
  EngineOptions options;
  options.db_path = ":memory:";
  options.clock = clock;
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Open(options);
  EXPECT_TRUE(engine.ok()) << engine.status();
  if (!engine.ok()) return nullptr;
  std::string node, instance;
  for (const v1::AgentMessage& message : messages) {
    absl::Status status;
    if (message.has_hello()) {
      status = (*engine)->Hello(message.hello()).status();
      node = message.hello().node();
      instance = message.hello().agent_instance();
    } else if (message.has_address_events()) {
      status =
          (*engine)
              ->IngestAddressEvents(node, instance, message.address_events())
              .status();
    } else if (message.has_remediation_outcome()) {
      // What the ingest service checks before it hands an outcome on.
      v1::RemediationOutcome outcome = message.remediation_outcome();
      status = ValidateRemediationOutcome(&outcome, clock->Now(),
                                          ValidationLimits{});
    } else {
      status = (*engine)
                   ->IngestSnapshot(node, instance, message.socket_snapshot(),
                                    clock->Now())
                   .status();
    }
    EXPECT_TRUE(status.ok()) << stream << ": " << status;
  }
  return std::move(*engine);
}

TEST(IngestSeeds, EveryStreamIsAcceptedWhole) {
  const fs::path root = GHOSTPEER_TESTDATA_DIR "/ingest";
  int streams = 0;
  for (const fs::directory_entry& entry : fs::directory_iterator(root)) {
    if (!entry.is_directory()) continue;
    ++streams;
    const std::vector<v1::AgentMessage> messages = ReadStream(entry.path());
    ASSERT_FALSE(messages.empty()) << entry.path();
    EXPECT_TRUE(messages.front().has_hello()) << entry.path();
    // The fuzzers' clock (tests/fuzz/ingest_support.h) is this T(0).
    testing::FakeClock clock(testing::T(0));
    Replay(messages, &clock, entry.path().filename());
  }
  EXPECT_GE(streams, 4);
}

TEST(IngestSeeds, VanishedPeerStreamReachesDetection) {
  testing::FakeClock clock(testing::T(0));
  const std::vector<v1::AgentMessage> messages =
      ReadStream(GHOSTPEER_TESTDATA_DIR "/ingest/vanished_peer");
  ASSERT_EQ(messages.size(), 5u);
  // Two sightings of the stuck socket open the finding...
  const std::vector<v1::AgentMessage> until_confirmed(messages.begin(),
                                                      messages.begin() + 4);
  std::unique_ptr<Engine> engine =
      Replay(until_confirmed, &clock, "vanished_peer");
  ASSERT_NE(engine, nullptr);
  v1::ListFindingsResponse findings = engine->ListFindings({});
  ASSERT_EQ(findings.findings_size(), 1);
  EXPECT_EQ(findings.findings(0).kind(), v1::VANISHED_PEER);
  EXPECT_EQ(findings.findings(0).status(), v1::OPEN);
  // ...and the last delta, which removes it, resolves it.
  engine = Replay(messages, &clock, "vanished_peer");
  ASSERT_NE(engine, nullptr);
  findings = engine->ListFindings({});
  ASSERT_EQ(findings.findings_size(), 1);
  EXPECT_EQ(findings.findings(0).status(), v1::RESOLVED);
}

}  // namespace
}  // namespace ghostpeer::aggregator
