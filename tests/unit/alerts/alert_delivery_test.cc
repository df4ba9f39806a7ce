#include "aggregator/alerts/alert_delivery.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <deque>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "aggregator/alerts/alerting.h"
#include "aggregator/alerts/webhook.h"
#include "aggregator/engine.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "test_findings.h"
#include "tests/fakes/fake_clock.h"

namespace ghostpeer::aggregator::alerts {
namespace {

using testing::Resolved;
using testing::T0;
using testing::VanishedFinding;

// Records every POST and answers from a script (then `otherwise`).
class FakePoster final : public HttpPoster {
 public:
  struct Request {
    std::string url, body;
    std::vector<std::string> headers;
    std::string Header(absl::string_view name) const {
      for (const std::string& h : headers) {
        if (absl::StartsWith(h, absl::StrCat(name, ": "))) {
          return h.substr(name.size() + 2);
        }
      }
      return "";
    }
  };
  explicit FakePoster(int otherwise = 200) : otherwise_(otherwise) {}
  void Script(std::vector<int> statuses) {
    absl::MutexLock lock(&mu_);
    script_.assign(statuses.begin(), statuses.end());
  }
  absl::StatusOr<HttpPostResponse> Post(const std::string& url,
                                        const std::string& body,
                                        const std::vector<std::string>& headers,
                                        absl::Duration) override {
    absl::MutexLock lock(&mu_);
    requests_.push_back({url, body, headers});
    int status = otherwise_;
    if (!script_.empty()) {
      status = script_.front();
      script_.pop_front();
    }
    if (status == 0) return absl::UnavailableError("connection refused");
    return HttpPostResponse{status, status == 200 ? "" : "boom"};
  }
  std::vector<Request> requests() const {
    absl::MutexLock lock(&mu_);
    return requests_;
  }
  // Waits (bounded) until at least `n` requests arrived.
  bool WaitFor(size_t n, absl::Duration timeout = absl::Seconds(10)) const {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return requests_.size() >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }

 private:
  mutable absl::Mutex mu_;
  std::deque<int> script_ ABSL_GUARDED_BY(mu_);
  std::vector<Request> requests_ ABSL_GUARDED_BY(mu_);
  const int otherwise_;
};

TEST(JudgeResponseTest, Table) {
  struct Case {
    std::string name;
    absl::StatusOr<HttpPostResponse> response;
    absl::StatusCode want;
  };
  const std::vector<Case> cases = {
      {"200", HttpPostResponse{200, ""}, absl::StatusCode::kOk},
      {"204", HttpPostResponse{204, ""}, absl::StatusCode::kOk},
      {"500 retried as unavailable", HttpPostResponse{500, "x"},
       absl::StatusCode::kUnavailable},
      {"429", HttpPostResponse{429, ""}, absl::StatusCode::kUnavailable},
      {"400", HttpPostResponse{400, "bad"},
       absl::StatusCode::kFailedPrecondition},
      {"transport", absl::UnavailableError("refused"),
       absl::StatusCode::kUnavailable},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(JudgeResponse("sink", c.response).code(), c.want) << c.name;
  }
}

TEST(WebhookSinkTest, SignsTheExactBodyAndNamesTheEvent) {
  FakePoster poster;
  WebhookSink sink(
      {"http://127.0.0.1:1/hook", "s3cret", "webhook0", absl::Seconds(1)},
      &poster);
  Delivery d;
  d.finding = VanishedFinding();
  d.finding_id = d.finding.id();
  d.episode = EpisodeOf(d.finding);
  d.event = DeliveryEvent::kOpened;
  ASSERT_TRUE(sink.Deliver(d).ok());
  const std::vector<FakePoster::Request> requests = poster.requests();
  ASSERT_EQ(requests.size(), 1u);
  const FakePoster::Request& r = requests[0];
  EXPECT_EQ(r.url, "http://127.0.0.1:1/hook");
  EXPECT_EQ(r.Header("Content-Type"), "application/json");
  EXPECT_EQ(r.Header("X-Ghostpeer-Event"), "OPENED");
  EXPECT_EQ(r.Header("X-Ghostpeer-Delivery"), DeliveryId(d));
  EXPECT_EQ(r.Header("X-Ghostpeer-Signature"),
            SignatureValue("s3cret", r.body));
  EXPECT_EQ(nlohmann::json::parse(r.body)["finding"]["id"], d.finding_id);
}

TEST(WebhookSinkTest, NoSecretNoSignature) {
  FakePoster poster;
  WebhookSink sink(
      {"http://127.0.0.1:1/hook", "", "webhook0", absl::Seconds(1)}, &poster);
  Delivery d;
  d.finding = VanishedFinding();
  ASSERT_TRUE(sink.Deliver(d).ok());
  const std::vector<FakePoster::Request> requests = poster.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].Header("X-Ghostpeer-Signature"), "");
}

TEST(AlertmanagerSinkTest, SeverityChangeResolvesTheOldLabelSet) {
  FakePoster poster;
  AlertmanagerSinkOptions options;
  options.url = "http://127.0.0.1:1";
  AlertmanagerSink sink(options, &poster);
  v1::Finding warning = VanishedFinding();
  warning.set_severity(v1::WARNING);
  ASSERT_TRUE(sink.Refresh({warning}).ok());
  ASSERT_TRUE(sink.Refresh({VanishedFinding()}).ok());  // now CRITICAL
  const std::vector<FakePoster::Request> requests = poster.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].url, "http://127.0.0.1:1/api/v2/alerts");
  const nlohmann::json second = nlohmann::json::parse(requests[1].body);
  ASSERT_EQ(second.size(), 2u);
  EXPECT_EQ(second[0]["labels"]["severity"], "warning");
  EXPECT_EQ(second[1]["labels"]["severity"], "critical");
  EXPECT_GT(second[1]["endsAt"].get<std::string>(),
            second[0]["endsAt"].get<std::string>());
}

// A remediation told later re-posts the alert as still firing, now saying
// what was done.
TEST(AlertmanagerSinkTest, RemediatedRepostsTheOpenAlertWithWhatWasDone) {
  FakePoster poster;
  AlertmanagerSinkOptions options;
  options.url = "http://127.0.0.1:1";
  fakes::FakeClock clock(T0());
  options.clock = &clock;
  AlertmanagerSink sink(options, &poster);
  Delivery d;
  d.finding = VanishedFinding();
  d.finding.set_remediation("would destroy (dry-run)");
  d.finding_id = d.finding.id();
  d.episode = EpisodeOf(d.finding);
  d.event = DeliveryEvent::kRemediated;
  d.change = RemediationChange(d.finding);
  ASSERT_TRUE(sink.Deliver(d).ok());
  const std::vector<FakePoster::Request> requests = poster.requests();
  ASSERT_EQ(requests.size(), 1u);
  const nlohmann::json alerts = nlohmann::json::parse(requests[0].body);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0]["annotations"]["remediation"], "would destroy (dry-run)");
  // Still firing: endsAt 4 resend intervals (of 1 min) ahead of T0.
  EXPECT_EQ(alerts[0]["endsAt"], "2026-11-18T11:10:40.000Z");
}

class DispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "/gp-dispatch-" + std::to_string(getpid()) +
            "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name() +
            ".db";
    RemoveFiles();
    auto store = SqliteDeliveryStore::Open(path_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }
  void TearDown() override {
    store_.reset();
    RemoveFiles();
  }
  void RemoveFiles() {
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::remove((path_ + suffix).c_str());
    }
  }
  // `registry` null: no metrics (a registry takes each family once).
  std::unique_ptr<Dispatcher> NewDispatcher(
      FakePoster* poster, std::vector<v1::Finding> known,
      metrics::Registry* registry = nullptr) {
    DispatcherOptions options;
    options.retry.backoff.initial = absl::Milliseconds(20);
    options.retry.backoff.max = absl::Milliseconds(100);
    options.retry.backoff.jitter = Jitter::kNone;
    options.refresh_interval = absl::Hours(1);
    options.all_findings = [known] { return known; };
    std::vector<std::unique_ptr<AlertSink>> sinks;
    sinks.push_back(std::make_unique<WebhookSink>(
        WebhookSinkOptions{"http://127.0.0.1:1/hook", "k", "webhook0",
                           absl::Seconds(1)},
        poster));
    return std::make_unique<Dispatcher>(options, store_.get(), std::move(sinks),
                                        registry);
  }
  std::string sink_ = "webhook:http://127.0.0.1:1/hook";
  std::string path_;
  std::unique_ptr<DeliveryStore> store_;
  metrics::Registry registry_;
};

v1::FindingEvent Event(v1::FindingEventType type, const v1::Finding& f) {
  v1::FindingEvent e;
  e.set_type(type);
  *e.mutable_finding() = f;
  return e;
}

TEST_F(DispatcherTest, RetriesWithBackoffUntilAccepted) {
  FakePoster poster;
  poster.Script({500, 0, 200});  // a 500, a refused connection, then OK
  auto dispatcher = NewDispatcher(&poster, {}, &registry_);
  ASSERT_TRUE(dispatcher->Start().ok());
  dispatcher->Notify(Event(v1::OPENED, VanishedFinding()));
  ASSERT_TRUE(poster.WaitFor(3));
  absl::SleepFor(absl::Milliseconds(300));  // no fourth attempt follows
  dispatcher->Stop();
  const auto requests = poster.requests();
  ASSERT_EQ(requests.size(), 3u);
  for (const auto& r : requests) {
    EXPECT_EQ(r.body, requests[0].body);  // same delivery, same bytes
    EXPECT_EQ(r.Header("X-Ghostpeer-Signature"), SignatureValue("k", r.body));
  }
  EXPECT_EQ((*store_->PendingBySink())[sink_], 0);
  const std::string text = registry_.Render();
  EXPECT_TRUE(absl::StrContains(
      text,
      "ghostpeer_alert_delivery_attempts_total{sink=\"webhook0\",result="
      "\"failure\"} 2\n"))
      << text;
}

TEST_F(DispatcherTest, UpdatedEventsAreNotNotifications) {
  FakePoster poster;
  auto dispatcher = NewDispatcher(&poster, {});
  ASSERT_TRUE(dispatcher->Start().ok());
  dispatcher->Notify(Event(v1::UPDATED, VanishedFinding()));
  // A CLOSED whose OPENED this sink never heard is not sent either.
  dispatcher->Notify(
      Event(v1::CLOSED, Resolved(VanishedFinding("00000000000000bb"), T0())));
  // Silence alone would also come from a dead dispatcher: a real
  // notification after them must arrive, and it alone.
  dispatcher->Notify(Event(v1::OPENED, VanishedFinding("00000000000000cc")));
  ASSERT_TRUE(poster.WaitFor(1)) << "the dispatcher delivers nothing at all";
  absl::SleepFor(absl::Milliseconds(300));  // room for a wrong second one
  dispatcher->Stop();
  const auto requests = poster.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].Header("X-Ghostpeer-Event"), "OPENED");
  EXPECT_EQ(nlohmann::json::parse(requests[0].body)["finding"]["id"],
            "00000000000000cc");
}

// What was done about a finding reaches the receiver once per change: a
// dry-run "would destroy", then the agent's "destroyed", not the same text
// twice, not for a finding the receiver never heard of, and not again after
// a restart.
TEST_F(DispatcherTest, RemediationChangesAreToldOncePerChange) {
  v1::Finding finding = VanishedFinding();
  v1::Finding would = finding;
  would.set_remediation("would destroy (dry-run)");
  v1::Finding done = finding;
  done.set_remediation(
      "destroyed the socket at 11:07:02 UTC (policy, auto); the client saw "
      "the error");
  v1::Finding stranger = VanishedFinding("00000000000000bb");
  stranger.set_remediation("would destroy (dry-run)");
  {
    FakePoster poster;
    auto dispatcher = NewDispatcher(&poster, {});
    ASSERT_TRUE(dispatcher->Start().ok());
    dispatcher->Notify(Event(v1::OPENED, finding));
    dispatcher->Notify(Event(v1::UPDATED, finding));  // nothing done yet
    dispatcher->Notify(Event(v1::UPDATED, would));
    dispatcher->Notify(Event(v1::UPDATED, would));  // the same text again
    dispatcher->Notify(Event(v1::UPDATED, stranger));
    dispatcher->Notify(Event(v1::UPDATED, done));
    ASSERT_TRUE(poster.WaitFor(3));
    absl::SleepFor(absl::Milliseconds(300));  // room for a wrong fourth
    dispatcher->Stop();
    const auto requests = poster.requests();
    ASSERT_EQ(requests.size(), 3u);
    EXPECT_EQ(requests[0].Header("X-Ghostpeer-Event"), "OPENED");
    EXPECT_EQ(requests[1].Header("X-Ghostpeer-Event"), "REMEDIATED");
    EXPECT_EQ(requests[2].Header("X-Ghostpeer-Event"), "REMEDIATED");
    const nlohmann::json second = nlohmann::json::parse(requests[1].body);
    const nlohmann::json third = nlohmann::json::parse(requests[2].body);
    EXPECT_EQ(second["finding"]["remediation"], would.remediation());
    EXPECT_EQ(third["finding"]["remediation"], done.remediation());
    EXPECT_NE(second["delivery_id"], third["delivery_id"]);
  }
  // Restarted: the Engine lists the finding with its last remediation
  // (told already) and nothing is repeated; a newer text found only by
  // reconciling is told.
  {
    FakePoster poster;
    auto dispatcher = NewDispatcher(&poster, {done});
    ASSERT_TRUE(dispatcher->Start().ok());
    absl::SleepFor(absl::Milliseconds(300));
    dispatcher->Stop();
    EXPECT_TRUE(poster.requests().empty());
  }
  v1::Finding failed = finding;
  failed.set_remediation("the agent failed: errno 1");
  FakePoster poster;
  auto dispatcher = NewDispatcher(&poster, {failed});
  ASSERT_TRUE(dispatcher->Start().ok());
  ASSERT_TRUE(poster.WaitFor(1));
  absl::SleepFor(absl::Milliseconds(300));
  dispatcher->Stop();
  const auto requests = poster.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].Header("X-Ghostpeer-Event"), "REMEDIATED");
}

TEST_F(DispatcherTest, OpenedThenResolvedInOrder) {
  FakePoster poster;
  auto dispatcher = NewDispatcher(&poster, {});
  ASSERT_TRUE(dispatcher->Start().ok());
  dispatcher->Notify(Event(v1::OPENED, VanishedFinding()));
  dispatcher->Notify(Event(v1::CLOSED, Resolved(VanishedFinding(), T0())));
  ASSERT_TRUE(poster.WaitFor(2));
  dispatcher->Stop();
  const auto requests = poster.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].Header("X-Ghostpeer-Event"), "OPENED");
  EXPECT_EQ(requests[1].Header("X-Ghostpeer-Event"), "RESOLVED");
}

TEST_F(DispatcherTest, RestartNeitherLosesNorRepeats) {
  const v1::Finding delivered = VanishedFinding("00000000000000d1");
  const v1::Finding undelivered = VanishedFinding("00000000000000d2");
  {
    FakePoster poster(/*otherwise=*/503);
    poster.Script({200});  // the first gets through, then the receiver dies
    auto dispatcher = NewDispatcher(&poster, {});
    ASSERT_TRUE(dispatcher->Start().ok());
    dispatcher->Notify(Event(v1::OPENED, delivered));
    ASSERT_TRUE(poster.WaitFor(1));
    dispatcher->Notify(Event(v1::OPENED, undelivered));
    ASSERT_TRUE(poster.WaitFor(3));
    dispatcher->Stop();
  }
  // Restarted: the Engine still lists both as open (reconcile must not
  // repeat the delivered one), and the pending one goes out once.
  FakePoster poster;
  auto dispatcher = NewDispatcher(&poster, {delivered, undelivered});
  ASSERT_TRUE(dispatcher->Start().ok());
  ASSERT_TRUE(poster.WaitFor(1));
  absl::SleepFor(absl::Milliseconds(300));
  dispatcher->Stop();
  const auto requests = poster.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(requests[0].body)["finding"]["id"],
            "00000000000000d2");
}

TEST_F(DispatcherTest, ReconcileSendsWhatTheCrashLost) {
  // Opened while we were down: the Engine lists it, the store never saw it.
  const v1::Finding open = VanishedFinding("00000000000000e1");
  // Resolved while down, opening already delivered: send the resolution.
  const v1::Finding was_open = VanishedFinding("00000000000000e2");
  ASSERT_TRUE(
      store_->Enqueue(sink_, DeliveryEvent::kOpened, was_open, T0()).ok());
  auto due = store_->Due(sink_, T0(), 10);
  ASSERT_TRUE(store_->MarkDelivered((*due)[0].id, T0()).ok());
  // Resolved, never announced: stays silent.
  const v1::Finding never = Resolved(VanishedFinding("00000000000000e3"), T0());

  FakePoster poster;
  auto dispatcher = NewDispatcher(
      &poster, {open, Resolved(was_open, T0() + absl::Seconds(1)), never});
  ASSERT_TRUE(dispatcher->Start().ok());
  ASSERT_TRUE(poster.WaitFor(2));
  absl::SleepFor(absl::Milliseconds(300));
  dispatcher->Stop();
  std::set<std::string> got;
  for (const auto& r : poster.requests()) {
    const nlohmann::json body = nlohmann::json::parse(r.body);
    got.insert(body["event"].get<std::string>() + " " +
               body["finding"]["id"].get<std::string>());
  }
  EXPECT_EQ(got, (std::set<std::string>{"OPENED 00000000000000e1",
                                        "RESOLVED 00000000000000e2"}));
}

TEST_F(DispatcherTest, GivesUpAfterThePolicyLimit) {
  FakePoster poster(/*otherwise=*/500);
  DispatcherOptions options;
  options.retry.backoff.initial = absl::Milliseconds(10);
  options.retry.backoff.jitter = Jitter::kNone;
  options.retry.give_up_after = absl::Milliseconds(100);
  std::vector<std::unique_ptr<AlertSink>> sinks;
  sinks.push_back(std::make_unique<WebhookSink>(
      WebhookSinkOptions{"http://127.0.0.1:1/hook", "", "webhook0",
                         absl::Seconds(1)},
      &poster));
  Dispatcher dispatcher(options, store_.get(), std::move(sinks), &registry_);
  ASSERT_TRUE(dispatcher.Start().ok());
  dispatcher.Notify(Event(v1::OPENED, VanishedFinding()));
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while ((*store_->PendingBySink())[sink_] != 0 || poster.requests().empty()) {
    ASSERT_LT(absl::Now(), deadline) << "never gave up";
    absl::SleepFor(absl::Milliseconds(20));
  }
  const size_t attempts = poster.requests().size();
  absl::SleepFor(absl::Milliseconds(200));
  dispatcher.Stop();
  EXPECT_EQ(poster.requests().size(), attempts);  // abandoned: no more tries
  EXPECT_TRUE(absl::StrContains(
      registry_.Render(),
      "ghostpeer_alert_deliveries_abandoned_total{sink=\"webhook0\"} 1\n"));
}

// The aggregator keeps delivery state in a file of its own beside the
// Engine's, and moves there what an older build left in the Engine's file:
// a notification pending before the upgrade goes out after it, once.
TEST(AlertingTest, MovesDeliveryStateOutOfTheEngineFile) {
  const std::string engine_path =
      ::testing::TempDir() + "/gp-alerting-" + std::to_string(getpid()) + ".db";
  const std::string store_path = DeliveryStorePath(engine_path);
  auto remove_files = [&] {
    for (const std::string& path : {engine_path, store_path}) {
      for (const char* suffix : {"", "-wal", "-shm"}) {
        std::remove((path + suffix).c_str());
      }
    }
  };
  remove_files();
  const v1::Finding finding = VanishedFinding();
  const std::string sink = "webhook:http://127.0.0.1:1/hook";
  {
    auto legacy = SqliteDeliveryStore::Open(engine_path);
    ASSERT_TRUE(legacy.ok()) << legacy.status();
    ASSERT_TRUE(
        (*legacy)->Enqueue(sink, DeliveryEvent::kOpened, finding, T0()).ok());
  }
  EngineOptions engine_options;
  engine_options.db_path = engine_path;
  auto engine = Engine::Open(engine_options);
  ASSERT_TRUE(engine.ok()) << engine.status();

  FakePoster poster;
  AlertingOptions options;
  options.db_path = engine_path;
  options.webhook_urls = {"http://127.0.0.1:1/hook"};
  options.poster = &poster;
  auto alerting = Alerting::Start(options, engine->get());
  ASSERT_TRUE(alerting.ok()) << alerting.status();
  ASSERT_TRUE(poster.WaitFor(1));
  (*alerting)->Stop();
  alerting->reset();
  engine->reset();

  auto store = SqliteDeliveryStore::Open(store_path);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_TRUE(*(*store)->Known(sink, finding.id(), EpisodeOf(finding),
                               DeliveryEvent::kOpened));
  EXPECT_TRUE((*(*store)->PendingBySink()).empty());
  auto engine_file = SqliteDeliveryStore::Open(engine_path);
  ASSERT_TRUE(engine_file.ok()) << engine_file.status();
  EXPECT_FALSE(*(*engine_file)
                    ->Known(sink, finding.id(), EpisodeOf(finding),
                            DeliveryEvent::kOpened));
  EXPECT_EQ(poster.requests().size(), 1u);
  remove_files();
}

// With a PostgreSQL --db the delivery state is a table there, shared by
// the replicas (tests/integration/postgres runs that store); --alert-state
// still keeps it in a local file instead.
TEST(AlertingTest, AServerDbKeepsTheStateThereUnlessAnAlertStateFile) {
  EngineOptions engine_options;
  engine_options.db_path = ":memory:";
  auto engine = Engine::Open(engine_options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  FakePoster poster;
  AlertingOptions options;
  // A unix socket directory that does not exist: refused at once, no
  // network.
  options.db_path =
      "postgresql://gp:secret-pw@/gp?host=/nonexistent-gp-socket-dir";
  options.webhook_urls = {"http://127.0.0.1:1/hook"};
  options.poster = &poster;
  auto refused = Alerting::Start(options, engine->get());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable)
      << refused.status();
  EXPECT_FALSE(absl::StrContains(refused.status().message(), "secret-pw"))
      << refused.status();

  const std::string state = ::testing::TempDir() + "/gp-alert-state-" +
                            std::to_string(getpid()) + ".db";
  options.delivery_store_path = state;
  auto alerting = Alerting::Start(options, engine->get());
  ASSERT_TRUE(alerting.ok()) << alerting.status();
  (*alerting)->Stop();
  alerting->reset();
  EXPECT_TRUE(SqliteDeliveryStore::Open(state).ok());
  struct stat st;
  EXPECT_EQ(stat(state.c_str(), &st), 0) << state;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::remove((state + suffix).c_str());
  }
}

}  // namespace
}  // namespace ghostpeer::aggregator::alerts
