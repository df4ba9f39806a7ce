// What the Query service (and the web page) ask of the aggregator's
// remediation: act on one finding now, and list what was decided.
//
// The seam between the remediation coordinator (which decides, sends orders
// on agents' streams and records outcomes) and the read/request side, so
// each is tested on its own: QueryService takes a RemediationApi*, tests a
// fake.
#ifndef GHOSTPEER_AGGREGATOR_REMEDIATION_API_H_
#define GHOSTPEER_AGGREGATOR_REMEDIATION_API_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ghostpeer/v1/query.pb.h"

namespace ghostpeer::aggregator {

class RemediationApi {
 public:
  virtual ~RemediationApi() = default;

  // Acts on the finding `finding_id` now, with the policy's guards (the
  // aggregator's --remediation mode "dry-run" does not stop a person's
  // request; "off", a service labelled off, and every safety guard do).
  // `requested_by` names who asked ("manual: <identity>"). Returns the
  // recorded decision: ORDERED (the order is on its way; the outcome
  // arrives later, see List), WOULD_DESTROY for `dry_run`. Errors:
  // NotFound (no such finding), FailedPrecondition (a guard refused or
  // remediation is off; the message says which, and the refusal is
  // recorded), ResourceExhausted (rate limit), Unavailable (the decision
  // could not be stored).
  virtual absl::StatusOr<v1::Remediation> Remediate(
      const std::string& finding_id, bool dry_run,
      const std::string& requested_by) = 0;

  // Recorded decisions matching `request`, newest first.
  virtual absl::StatusOr<std::vector<v1::Remediation>> List(
      const v1::ListRemediationsRequest& request) const = 0;
};

}  // namespace ghostpeer::aggregator

#endif  // GHOSTPEER_AGGREGATOR_REMEDIATION_API_H_
