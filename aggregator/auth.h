// Who may talk to the aggregator.
#ifndef GHOSTPEER_AGGREGATOR_AUTH_H_
#define GHOSTPEER_AGGREGATOR_AUTH_H_

#include <string>

#include "aggregator/ingest_service.h"

namespace ghostpeer::aggregator {

// Admits calls carrying "authorization: Bearer <token>"; others end with
// UNAUTHENTICATED and a message that says what was wrong (missing header,
// not a bearer token, wrong token) but never the expected token.
CallAuthorizer BearerTokenAuthorizer(std::string token);

}  // namespace ghostpeer::aggregator

#endif  // GHOSTPEER_AGGREGATOR_AUTH_H_
