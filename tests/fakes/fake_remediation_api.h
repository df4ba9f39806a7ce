// A RemediationApi with scripted answers and a record of what was asked,
// for the Query service's Remediate and ListRemediations (and anything else
// that reads remediation through the seam). Header-only.
#ifndef GHOSTPEER_TESTS_FAKES_FAKE_REMEDIATION_API_H_
#define GHOSTPEER_TESTS_FAKES_FAKE_REMEDIATION_API_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "aggregator/remediation_api.h"

namespace ghostpeer::fakes {

// Thread-safe: gRPC threads call it while the test reads it.
class FakeRemediationApi final : public aggregator::RemediationApi {
 public:
  struct RemediateCall {
    std::string finding_id;
    bool dry_run = false;
    std::string requested_by;
  };

  // What Remediate answers: a Remediation (its finding_id and requested_by
  // are filled from the call, as a coordinator records them) or an error.
  void set_remediate_answer(absl::StatusOr<v1::Remediation> answer) {
    absl::MutexLock lock(&mu_);
    remediate_answer_ = std::move(answer);
  }
  // What List answers, whatever the request.
  void set_list_answer(absl::StatusOr<std::vector<v1::Remediation>> answer) {
    absl::MutexLock lock(&mu_);
    list_answer_ = std::move(answer);
  }

  std::vector<RemediateCall> remediate_calls() const {
    absl::MutexLock lock(&mu_);
    return remediate_calls_;
  }
  std::vector<v1::ListRemediationsRequest> list_requests() const {
    absl::MutexLock lock(&mu_);
    return list_requests_;
  }

  absl::StatusOr<v1::Remediation> Remediate(
      const std::string& finding_id, bool dry_run,
      const std::string& requested_by) override {
    absl::MutexLock lock(&mu_);
    remediate_calls_.push_back({finding_id, dry_run, requested_by});
    if (!remediate_answer_.ok()) return remediate_answer_.status();
    v1::Remediation recorded = *remediate_answer_;
    recorded.set_finding_id(finding_id);
    recorded.set_requested_by(requested_by);
    return recorded;
  }

  absl::StatusOr<std::vector<v1::Remediation>> List(
      const v1::ListRemediationsRequest& request) const override {
    absl::MutexLock lock(&mu_);
    list_requests_.push_back(request);
    return list_answer_;
  }

 private:
  mutable absl::Mutex mu_;
  absl::StatusOr<v1::Remediation> remediate_answer_ ABSL_GUARDED_BY(mu_) =
      v1::Remediation();
  absl::StatusOr<std::vector<v1::Remediation>> list_answer_
      ABSL_GUARDED_BY(mu_) = std::vector<v1::Remediation>();
  std::vector<RemediateCall> remediate_calls_ ABSL_GUARDED_BY(mu_);
  mutable std::vector<v1::ListRemediationsRequest> list_requests_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace ghostpeer::fakes

#endif  // GHOSTPEER_TESTS_FAKES_FAKE_REMEDIATION_API_H_
