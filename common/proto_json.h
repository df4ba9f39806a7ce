// Proto3 JSON of a message, the way ghostpeer prints it everywhere: proto
// field names, every scalar and list even at its default, messages only
// when set. The same JSON value protobuf's MessageToJsonString prints with
// preserve_proto_field_names and always_print_primitive_fields (a test holds
// the two equal for every ghostpeer message), written straight from
// reflection: protobuf's printer serializes to the wire format, parses that
// again into a tree and prints the tree, about 30 us per socket record, so
// `ghostpeer-agent --once -o json` spent 4 s of 5 on a 100k-socket node
// printing.
//
// Differences, deliberate: invalid UTF-8 in a string field becomes U+FFFD
// (protobuf logs an error and prints the bytes mangled); object keys follow
// the fields' declaration order.
#ifndef GHOSTPEER_COMMON_PROTO_JSON_H_
#define GHOSTPEER_COMMON_PROTO_JSON_H_

#include <string>

#include "google/protobuf/message.h"

namespace ghostpeer {

enum class JsonLayout {
  kCompact,  // one line, no spaces: for streams of lines
  kIndented  // one-space indents and a final newline, like protobuf's
};

// Appends `message` as JSON to `out`.
void AppendProtoJson(const google::protobuf::Message& message,
                     JsonLayout layout, std::string* out);

inline std::string ProtoToJson(const google::protobuf::Message& message,
                               JsonLayout layout = JsonLayout::kCompact) {
  std::string out;
  AppendProtoJson(message, layout, &out);
  return out;
}

}  // namespace ghostpeer

#endif  // GHOSTPEER_COMMON_PROTO_JSON_H_
