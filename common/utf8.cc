#include "common/utf8.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ghostpeer {
namespace {

// What one walk over the bytes escapes, for each public function.
enum class Style {
  kRepair,      // RepairUtf8
  kLogValue,    // EscapeForLog
  kLogLine,     // EscapeLogMessage, text
  kJsonString,  // EscapeLogMessage, JSON
};

void AppendHexByte(unsigned char byte, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  const char escaped[4] = {'\\', 'x', kHex[byte >> 4], kHex[byte & 0xF]};
  out->append(escaped, sizeof(escaped));
}

bool IsC0OrDel(uint32_t code_point) {
  return code_point < 0x20 || code_point == 0x7F;
}

// Whether `style` escapes `code_point` (a well-formed one).
bool Escapes(Style style, uint32_t code_point) {
  switch (style) {
    case Style::kRepair:
      return code_point == '\\' || IsC0OrDel(code_point);
    case Style::kLogValue:
      return code_point == '\\' || IsC0OrDel(code_point) ||
             (code_point >= 0x80 && code_point <= 0x9F) ||
             code_point == 0x2028 || code_point == 0x2029;
    case Style::kLogLine:
      return IsC0OrDel(code_point);
    case Style::kJsonString:
      return code_point == '\\' || code_point == '"' || IsC0OrDel(code_point);
  }
  return false;
}

void AppendEscape(Style style, uint32_t code_point, std::string* out) {
  switch (code_point) {
    case '\\':
      out->append("\\\\");
      return;
    case '"':
      out->append("\\\"");
      return;
    case '\n':
      out->append("\\n");
      return;
    case '\r':
      out->append("\\r");
      return;
    case '\t':
      out->append("\\t");
      return;
    default:
      break;
  }
  if (style == Style::kJsonString || code_point >= 0x80) {
    absl::StrAppendFormat(out, "\\u%04x", code_point);
  } else {
    AppendHexByte(static_cast<unsigned char>(code_point), out);
  }
}

// The one walk behind every function here: copies runs of plain text in one
// append and escapes the rest, until `text` ends or the next sequence would
// take it past `max_bytes` of input. Returns the input bytes consumed.
size_t AppendEscaped(absl::string_view text, Style style, size_t max_bytes,
                     std::string* out) {
  size_t plain_start = 0;
  size_t i = 0;
  const auto flush = [&] {
    out->append(text.data() + plain_start, i - plain_start);
  };
  while (i < text.size()) {
    uint32_t code_point;
    const size_t length = Utf8SequenceLength(text.substr(i), &code_point);
    if (i + std::max<size_t>(length, 1) > max_bytes) break;
    if (length == 0) {
      flush();
      if (style == Style::kJsonString) {
        out->append("\\ufffd");
      } else {
        AppendHexByte(static_cast<unsigned char>(text[i]), out);
      }
      plain_start = ++i;
    } else if (Escapes(style, code_point)) {
      flush();
      AppendEscape(style, code_point, out);
      plain_start = i += length;
    } else {
      i += length;
    }
  }
  flush();
  return i;
}

}  // namespace

size_t Utf8SequenceLength(absl::string_view text, uint32_t* code_point) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const unsigned char lead = bytes[0];
  if (lead < 0x80) {
    *code_point = lead;
    return 1;
  }
  size_t length;
  uint32_t value;
  uint32_t min;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2, value = lead & 0x1F, min = 0x80;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3, value = lead & 0x0F, min = 0x800;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4, value = lead & 0x07, min = 0x10000;
  } else {
    return 0;  // a continuation byte, C0/C1 (always overlong), or F5..FF
  }
  if (length > text.size()) return 0;
  for (size_t i = 1; i < length; ++i) {
    if ((bytes[i] & 0xC0) != 0x80) return 0;
    value = (value << 6) | (bytes[i] & 0x3F);
  }
  if (value < min || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) {
    return 0;
  }
  *code_point = value;
  return length;
}

bool IsValidUtf8(absl::string_view text) {
  for (size_t i = 0; i < text.size();) {
    uint32_t code_point;
    const size_t length = Utf8SequenceLength(text.substr(i), &code_point);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

std::string RepairUtf8(absl::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  AppendEscaped(bytes, Style::kRepair, bytes.size(), &out);
  return out;
}

std::string EscapeForLog(absl::string_view bytes, size_t max_bytes) {
  std::string out;
  out.reserve(std::min(bytes.size(), max_bytes));
  const size_t consumed =
      AppendEscaped(bytes, Style::kLogValue, max_bytes, &out);
  if (consumed < bytes.size()) {
    absl::StrAppend(&out, "...(", bytes.size(), " bytes)");
  }
  return out;
}

std::string EscapeLogMessage(absl::string_view message, bool json) {
  std::string out;
  out.reserve(message.size());
  AppendEscaped(message, json ? Style::kJsonString : Style::kLogLine,
                message.size(), &out);
  return out;
}

}  // namespace ghostpeer
