// The page's files, compiled into the binary from aggregator/web/assets/ by
// embed_assets.cmake: nothing is read from disk or the network at run time.
#ifndef GHOSTPEER_AGGREGATOR_WEB_ASSETS_H_
#define GHOSTPEER_AGGREGATOR_WEB_ASSETS_H_

#include "absl/strings/string_view.h"

namespace ghostpeer::aggregator::web {

struct Asset {
  absl::string_view name;  // file name under assets/: "app.js"
  absl::string_view content_type;
  absl::string_view body;
};

// The asset called `name`, or null. Generated (web_assets.cc).
const Asset* FindAsset(absl::string_view name);

}  // namespace ghostpeer::aggregator::web

#endif  // GHOSTPEER_AGGREGATOR_WEB_ASSETS_H_
