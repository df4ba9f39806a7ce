// UTF-8 for bytes that someone else controls. Process names, namespace and
// interface names are arbitrary bytes to the kernel, but proto3 `string`
// fields must be UTF-8: a peer's parser rejects the whole message otherwise.
// Such bytes are repaired once, where they enter the agent (comm in
// ParseProcStat, interface names in the rtnetlink parser, namespace names,
// paths and errors where the snapshotter reports them, host name, kernel
// release, Docker status line), and escaped again wherever they are logged.
// Not repaired, because they cannot be invalid: container ids (64 hex digits
// from the cgroup) and strings from the Docker API (its JSON encoder writes
// only UTF-8, and the JSON parser refuses anything else).
#ifndef GHOSTPEER_COMMON_UTF8_H_
#define GHOSTPEER_COMMON_UTF8_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace ghostpeer {

// The length of the well-formed UTF-8 sequence at the start of `text`
// (1 to 4), or 0 if it does not start with one: a lone continuation byte,
// an overlong form, a surrogate, a code point past U+10FFFF, or a sequence
// cut short. Sets `*code_point` when it returns non-zero. `text` must not be
// empty. Pure.
size_t Utf8SequenceLength(absl::string_view text, uint32_t* code_point);

// True if `text` is well-formed UTF-8 (RFC 3629). Pure.
bool IsValidUtf8(absl::string_view text);

// Makes bytes from the node fit a proto3 `string` while keeping what they
// were readable and recoverable:
//   - every byte that is not part of a well-formed sequence becomes the four
//     characters `\xNN` (two lowercase hex digits);
//   - a backslash becomes `\\`, so that a name that really contains the
//     characters `\xff` (it comes back as `\\xff`) cannot be confused with
//     a name that contained the byte 0xFF (it comes back as `\xff`);
//   - control characters (C0 and DEL, NUL included) become `\n`, `\r`,
//     `\t` or `\xNN`: a name is shown on one line, and the aggregator
//     would otherwise refuse a snapshot with a tab in a process name;
//   - everything else is kept as is.
// The mapping is injective, and the identity on well-formed text without a
// backslash or a control character, which is every name one meets in
// practice. The result is always
// well-formed UTF-8. Pure.
std::string RepairUtf8(absl::string_view bytes);

// `bytes` made safe to put in one log line: RepairUtf8, and in addition
// control characters (C0, DEL, C1) and the line separators U+2028/U+2029
// escaped (`\n`, `\r`, `\t`, `\x1b`, `\u0085`, ...), so no input can start a
// line of its own or drive a terminal. Input longer than `max_bytes` is cut
// there (never inside a sequence) and marked with `...(<n> bytes)`. Pure.
std::string EscapeForLog(absl::string_view bytes, size_t max_bytes = 512);

// A whole formatted log message as the logger writes it (see InitLogging),
// one line of UTF-8 whatever it holds:
//   - text (`json` false): control characters (C0, DEL) become `\n`, `\r`,
//     `\t` or `\xNN`, bytes that are not UTF-8 `\xNN`; backslashes stay, so
//     quoting values with EscapeForLog is what keeps them unambiguous;
//   - JSON (`json` true, the inside of a JSON string): `"` and `\` escaped,
//     control characters `\n`, `\r`, `\t` or `\u00NN`, bytes that are not
//     UTF-8 U+FFFD, as ProtoToJson prints them.
// Pure.
std::string EscapeLogMessage(absl::string_view message, bool json);

}  // namespace ghostpeer

#endif  // GHOSTPEER_COMMON_UTF8_H_
