#include "common/proto_json.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/utf8.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"

namespace ghostpeer {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Escapes as protobuf does where it matters to readers: quotes, backslash,
// control characters, '<' and '>' (so JSON can sit in HTML), and U+2028/9
// (line breaks to JavaScript).
void AppendJsonString(absl::string_view text, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const size_t size = text.size();
  size_t plain_start = 0;
  const auto flush = [&](size_t end) {
    out->append(text.data() + plain_start, end - plain_start);
  };
  for (size_t i = 0; i < size;) {
    const unsigned char c = bytes[i];
    if (c >= 0x80) {
      uint32_t code_point = 0;
      const size_t length = Utf8SequenceLength(text.substr(i), &code_point);
      if (length == 0) {
        flush(i);
        out->append("\\ufffd");
        plain_start = ++i;
      } else if (code_point == 0x2028 || code_point == 0x2029) {
        flush(i);
        out->append(code_point == 0x2028 ? "\\u2028" : "\\u2029");
        plain_start = i += length;
      } else {
        i += length;
      }
      continue;
    }
    const char* escape = nullptr;
    switch (c) {
      case '"':
        escape = "\\\"";
        break;
      case '\\':
        escape = "\\\\";
        break;
      case '\b':
        escape = "\\b";
        break;
      case '\f':
        escape = "\\f";
        break;
      case '\n':
        escape = "\\n";
        break;
      case '\r':
        escape = "\\r";
        break;
      case '\t':
        escape = "\\t";
        break;
      default:
        break;
    }
    if (escape != nullptr) {
      flush(i);
      out->append(escape);
      plain_start = ++i;
    } else if (c < 0x20 || c == 0x7F || c == '<' || c == '>') {
      flush(i);
      const char unicode[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
      out->append(unicode, sizeof(unicode));
      plain_start = ++i;
    } else {
      ++i;
    }
  }
  flush(size);
  out->push_back('"');
}

// The shortest "%.Ng" that reads back as the same value, as protobuf's
// SimpleDtoa/SimpleFtoa; non-finite values are the strings proto3 names.
template <typename Float>
void AppendJsonNumber(Float value, std::string* out) {
  if (std::isnan(value)) {
    out->append("\"NaN\"");
    return;
  }
  if (std::isinf(value)) {
    out->append(value > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    return;
  }
  constexpr int kShort = std::numeric_limits<Float>::digits10;
  constexpr int kExact = std::numeric_limits<Float>::max_digits10;
  char buffer[48];
  std::snprintf(buffer, sizeof(buffer), "%.*g", kShort,
                static_cast<double>(value));
  if (static_cast<Float>(std::strtod(buffer, nullptr)) != value) {
    std::snprintf(buffer, sizeof(buffer), "%.*g", kExact,
                  static_cast<double>(value));
  }
  out->append(buffer);
}

// ".123", ".123456" or ".123456789": the fewest groups of three digits
// that keep every nonzero one, as protobuf writes times and durations.
void AppendFraction(int32_t nanos, std::string* out) {
  if (nanos == 0) return;
  char buffer[16];
  if (nanos % 1000000 == 0) {
    std::snprintf(buffer, sizeof(buffer), ".%03d", nanos / 1000000);
  } else if (nanos % 1000 == 0) {
    std::snprintf(buffer, sizeof(buffer), ".%06d", nanos / 1000);
  } else {
    std::snprintf(buffer, sizeof(buffer), ".%09d", nanos);
  }
  out->append(buffer);
}

class JsonWriter {
 public:
  JsonWriter(JsonLayout layout, std::string* out)
      : indented_(layout == JsonLayout::kIndented), out_(out) {}

  void WriteMessage(const Message& message) {
    const Descriptor* descriptor = message.GetDescriptor();
    if (descriptor->file()->package() == "google.protobuf") {
      WriteWellKnown(message);
      return;
    }
    const Reflection* reflection = message.GetReflection();
    out_->push_back('{');
    ++depth_;
    bool first = true;
    for (int i = 0; i < descriptor->field_count(); ++i) {
      const FieldDescriptor* field = descriptor->field(i);
      // Scalars and lists always; what has presence (messages, oneof
      // members, proto3 optional) only when set.
      if (!field->is_repeated() && field->has_presence() &&
          !reflection->HasField(message, field)) {
        continue;
      }
      if (!first) out_->push_back(',');
      first = false;
      NewLine();
      AppendJsonString(field->name(), out_);
      out_->append(indented_ ? ": " : ":");
      if (field->is_map()) {
        WriteMap(message, field);
      } else if (field->is_repeated()) {
        WriteList(message, field);
      } else {
        WriteValue(message, field, -1);
      }
    }
    --depth_;
    if (!first) NewLine();
    out_->push_back('}');
  }

  void Finish() {
    if (indented_) out_->push_back('\n');
  }

 private:
  void NewLine() {
    if (!indented_) return;
    out_->push_back('\n');
    out_->append(depth_, ' ');
  }

  void WriteList(const Message& message, const FieldDescriptor* field) {
    const int size = message.GetReflection()->FieldSize(message, field);
    out_->push_back('[');
    if (size == 0) {
      out_->push_back(']');
      return;
    }
    ++depth_;
    for (int i = 0; i < size; ++i) {
      if (i > 0) out_->push_back(',');
      NewLine();
      WriteValue(message, field, i);
    }
    --depth_;
    NewLine();
    out_->push_back(']');
  }

  void WriteMap(const Message& message, const FieldDescriptor* field) {
    const Reflection* reflection = message.GetReflection();
    const int size = reflection->FieldSize(message, field);
    out_->push_back('{');
    if (size == 0) {
      out_->push_back('}');
      return;
    }
    ++depth_;
    const FieldDescriptor* key_field = field->message_type()->map_key();
    const FieldDescriptor* value_field = field->message_type()->map_value();
    for (int i = 0; i < size; ++i) {
      const Message& entry = reflection->GetRepeatedMessage(message, field, i);
      if (i > 0) out_->push_back(',');
      NewLine();
      // Keys are strings in JSON, whatever their proto type.
      std::string key;
      JsonWriter key_writer(JsonLayout::kCompact, &key);
      key_writer.WriteValue(entry, key_field, -1);
      if (key.empty() || key.front() != '"') {
        AppendJsonString(key, out_);
      } else {
        out_->append(key);
      }
      out_->append(indented_ ? ": " : ":");
      WriteValue(entry, value_field, -1);
    }
    --depth_;
    NewLine();
    out_->push_back('}');
  }

  // The value of a singular field (index -1) or of a list's element.
  void WriteValue(const Message& message, const FieldDescriptor* field,
                  int index) {
    const Reflection* r = message.GetReflection();
    const bool one = index < 0;
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        absl::StrAppend(out_, one ? r->GetInt32(message, field)
                                  : r->GetRepeatedInt32(message, field, index));
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        absl::StrAppend(out_,
                        one ? r->GetUInt32(message, field)
                            : r->GetRepeatedUInt32(message, field, index));
        break;
      // 64-bit integers are strings in proto3 JSON (doubles cannot hold
      // them).
      case FieldDescriptor::CPPTYPE_INT64:
        absl::StrAppend(out_, "\"",
                        one ? r->GetInt64(message, field)
                            : r->GetRepeatedInt64(message, field, index),
                        "\"");
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        absl::StrAppend(out_, "\"",
                        one ? r->GetUInt64(message, field)
                            : r->GetRepeatedUInt64(message, field, index),
                        "\"");
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        AppendJsonNumber(one ? r->GetDouble(message, field)
                             : r->GetRepeatedDouble(message, field, index),
                         out_);
        break;
      case FieldDescriptor::CPPTYPE_FLOAT:
        AppendJsonNumber(one ? r->GetFloat(message, field)
                             : r->GetRepeatedFloat(message, field, index),
                         out_);
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        out_->append((one ? r->GetBool(message, field)
                          : r->GetRepeatedBool(message, field, index))
                         ? "true"
                         : "false");
        break;
      case FieldDescriptor::CPPTYPE_ENUM: {
        const int number = one ? r->GetEnumValue(message, field)
                               : r->GetRepeatedEnumValue(message, field, index);
        const auto* value = field->enum_type()->FindValueByNumber(number);
        // A value this build does not know (a newer peer's): its number.
        if (value == nullptr) {
          absl::StrAppend(out_, number);
        } else {
          AppendJsonString(value->name(), out_);
        }
        break;
      }
      case FieldDescriptor::CPPTYPE_STRING: {
        std::string scratch;
        const std::string& text =
            one ? r->GetStringReference(message, field, &scratch)
                : r->GetRepeatedStringReference(message, field, index,
                                                &scratch);
        if (field->type() == FieldDescriptor::TYPE_BYTES) {
          AppendJsonString(absl::Base64Escape(text), out_);
        } else {
          AppendJsonString(text, out_);
        }
        break;
      }
      case FieldDescriptor::CPPTYPE_MESSAGE:
        WriteMessage(one ? r->GetMessage(message, field)
                         : r->GetRepeatedMessage(message, field, index));
        break;
    }
  }

  void WriteWellKnown(const Message& message) {
    const Descriptor* descriptor = message.GetDescriptor();
    const Reflection* r = message.GetReflection();
    const std::string& name = descriptor->full_name();
    if (name == "google.protobuf.Timestamp" ||
        name == "google.protobuf.Duration") {
      const int64_t seconds =
          r->GetInt64(message, descriptor->FindFieldByNumber(1));
      const int32_t nanos =
          r->GetInt32(message, descriptor->FindFieldByNumber(2));
      if (name == "google.protobuf.Timestamp") {
        const absl::CivilSecond civil = absl::ToCivilSecond(
            absl::FromUnixSeconds(seconds), absl::UTCTimeZone());
        char buffer[40];
        std::snprintf(
            buffer, sizeof(buffer), "\"%04lld-%02d-%02dT%02d:%02d:%02d",
            static_cast<long long>(civil.year()), civil.month(), civil.day(),
            civil.hour(), civil.minute(), civil.second());
        out_->append(buffer);
        AppendFraction(std::abs(nanos), out_);
        out_->append("Z\"");
      } else {
        out_->push_back('"');
        if (seconds < 0 || nanos < 0) out_->push_back('-');
        absl::StrAppend(out_, seconds < 0 ? -static_cast<uint64_t>(seconds)
                                          : static_cast<uint64_t>(seconds));
        AppendFraction(std::abs(nanos), out_);
        out_->append("s\"");
      }
      return;
    }
    // Any, Struct, wrappers...: none in ghostpeer's protos today; printed
    // by protobuf, correct if slow.
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    options.always_print_primitive_fields = true;
    std::string json;
    if (google::protobuf::util::MessageToJsonString(message, &json, options)
            .ok()) {
      out_->append(json);
    } else {
      out_->append("null");
    }
  }

  const bool indented_;
  std::string* out_;
  int depth_ = 0;
};

}  // namespace

void AppendProtoJson(const Message& message, JsonLayout layout,
                     std::string* out) {
  JsonWriter writer(layout, out);
  writer.WriteMessage(message);
  writer.Finish();
}

}  // namespace ghostpeer
