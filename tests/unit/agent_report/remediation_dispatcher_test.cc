#include "agent/report/remediation_dispatcher.h"

#include <atomic>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace ghostpeer::agent {
namespace {

v1::RemediationOrder Order(const std::string& id) {
  v1::RemediationOrder order;
  order.set_order_id(id);
  order.set_finding_id("f-1");
  return order;
}

v1::RemediationOutcome Destroyed(const v1::RemediationOrder& order) {
  v1::RemediationOutcome outcome;
  outcome.set_order_id(order.order_id());
  outcome.set_outcome(v1::REMEDIATION_DESTROYED);
  return outcome;
}

TEST(RemediationDispatcherTest, DisabledRefusesEveryOrderAtOnce) {
  RemediationDispatcher dispatcher(
      {nullptr, "agent started without --remediation"});
  EXPECT_FALSE(dispatcher.enabled());
  EXPECT_EQ(dispatcher.refusal(), "agent started without --remediation");
  dispatcher.Submit(Order("a"));
  const std::vector<v1::RemediationOutcome> out = dispatcher.TakeOutcomes();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].order_id(), "a");
  EXPECT_EQ(out[0].outcome(), v1::REMEDIATION_REFUSED);
  EXPECT_EQ(out[0].detail(), "agent started without --remediation");
  EXPECT_EQ(dispatcher.counts().refused, 1u);
}

TEST(RemediationDispatcherTest, ExecutesOffTheCallerAndWakesTheListener) {
  std::atomic<int> executed{0};
  std::atomic<int> woken{0};
  RemediationDispatcher dispatcher({[&](const v1::RemediationOrder& order) {
                                      ++executed;
                                      return Destroyed(order);
                                    },
                                    ""});
  EXPECT_TRUE(dispatcher.enabled());
  EXPECT_EQ(dispatcher.refusal(), "");
  dispatcher.SetListener([&] { ++woken; });
  dispatcher.Submit(Order("a"));
  dispatcher.WaitIdle();
  const std::vector<v1::RemediationOutcome> out = dispatcher.TakeOutcomes();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].outcome(), v1::REMEDIATION_DESTROYED);
  EXPECT_EQ(executed.load(), 1);
  EXPECT_EQ(woken.load(), 1);
  EXPECT_EQ(dispatcher.counts().destroyed, 1u);
  EXPECT_TRUE(dispatcher.TakeOutcomes().empty());
}

TEST(RemediationDispatcherTest, AReplayActsOnceAndResendsTheFirstOutcome) {
  std::atomic<int> executed{0};
  RemediationDispatcher dispatcher({[&](const v1::RemediationOrder& order) {
                                      ++executed;
                                      return Destroyed(order);
                                    },
                                    ""});
  dispatcher.Submit(Order("a"));
  dispatcher.WaitIdle();
  ASSERT_EQ(dispatcher.TakeOutcomes().size(), 1u);
  // The outcome was lost with the stream; the aggregator replays.
  dispatcher.Submit(Order("a"));
  dispatcher.WaitIdle();
  const std::vector<v1::RemediationOutcome> again = dispatcher.TakeOutcomes();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].outcome(), v1::REMEDIATION_DESTROYED);
  EXPECT_EQ(executed.load(), 1);
  EXPECT_EQ(dispatcher.counts().destroyed, 1u);  // counted once
  EXPECT_EQ(dispatcher.counts().replays, 1u);
}

TEST(RemediationDispatcherTest, AReplayWhilePendingIsAnsweredOnce) {
  absl::Notification release;
  std::atomic<int> executed{0};
  RemediationDispatcher dispatcher({[&](const v1::RemediationOrder& order) {
                                      release.WaitForNotification();
                                      ++executed;
                                      return Destroyed(order);
                                    },
                                    ""});
  dispatcher.Submit(Order("a"));
  dispatcher.Submit(Order("a"));
  release.Notify();
  dispatcher.WaitIdle();
  EXPECT_EQ(dispatcher.TakeOutcomes().size(), 1u);
  EXPECT_EQ(executed.load(), 1);
}

TEST(RemediationDispatcherTest, AFullQueueRefusesAndForgets) {
  absl::Notification release;
  std::atomic<int> executed{0};
  RemediationDispatcherOptions options;
  options.execute = [&](const v1::RemediationOrder& order) {
    release.WaitForNotification();
    ++executed;
    return Destroyed(order);
  };
  options.queue_capacity = 2;
  RemediationDispatcher dispatcher(std::move(options));
  // One executing (blocked) is not enough to be sure it left the queue:
  // submit until a refusal shows up, bounded.
  int submitted = 0;
  while (dispatcher.counts().refused == 0 && submitted < 10) {
    dispatcher.Submit(Order(std::to_string(submitted++)));
  }
  ASSERT_EQ(dispatcher.counts().refused, 1u);
  const std::string refused_id = std::to_string(submitted - 1);
  std::vector<v1::RemediationOutcome> out = dispatcher.TakeOutcomes();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].order_id(), refused_id);
  EXPECT_EQ(out[0].detail(), "queue full");
  release.Notify();
  dispatcher.WaitIdle();
  // The refused order was not remembered: its replay acts.
  dispatcher.Submit(Order(refused_id));
  dispatcher.WaitIdle();
  EXPECT_EQ(executed.load(), submitted);
}

TEST(RemediationDispatcherTest, HostileOrderIdsAreRefusedNotRemembered) {
  std::atomic<int> executed{0};
  RemediationDispatcher dispatcher({[&](const v1::RemediationOrder& order) {
                                      ++executed;
                                      return Destroyed(order);
                                    },
                                    ""});
  for (const std::string& id :
       {std::string(), std::string(200, 'x'), std::string("a\xff")}) {
    dispatcher.Submit(Order(id));
  }
  dispatcher.WaitIdle();
  const std::vector<v1::RemediationOutcome> out = dispatcher.TakeOutcomes();
  ASSERT_EQ(out.size(), 3u);
  for (const v1::RemediationOutcome& outcome : out) {
    EXPECT_EQ(outcome.outcome(), v1::REMEDIATION_REFUSED);
    EXPECT_LE(outcome.order_id().size(), 128u);
  }
  EXPECT_EQ(executed.load(), 0);
}

TEST(RemediationDispatcherTest, RemembersABoundedNumberOfOrders) {
  std::atomic<int> executed{0};
  RemediationDispatcherOptions options;
  options.execute = [&](const v1::RemediationOrder& order) {
    ++executed;
    return Destroyed(order);
  };
  options.remembered_orders = 3;
  RemediationDispatcher dispatcher(std::move(options));
  for (int i = 0; i < 5; ++i) {
    dispatcher.Submit(Order(std::to_string(i)));
    dispatcher.WaitIdle();
  }
  dispatcher.Submit(Order("4"));  // recent: remembered
  dispatcher.WaitIdle();
  EXPECT_EQ(executed.load(), 5);
  dispatcher.Submit(Order("0"));  // forgotten: acts again
  dispatcher.WaitIdle();
  EXPECT_EQ(executed.load(), 6);
}

TEST(RemediationDispatcherTest, OutcomeLabels) {
  EXPECT_STREQ(RemediationOutcomeLabel(v1::REMEDIATION_DESTROYED), "destroyed");
  EXPECT_STREQ(RemediationOutcomeLabel(v1::REMEDIATION_ALREADY_GONE),
               "already_gone");
  EXPECT_STREQ(RemediationOutcomeLabel(v1::REMEDIATION_WOULD_DESTROY),
               "would_destroy");
  EXPECT_STREQ(
      RemediationOutcomeLabel(static_cast<v1::RemediationOutcomeKind>(99)),
      "unspecified");
}

}  // namespace
}  // namespace ghostpeer::agent
