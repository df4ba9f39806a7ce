#include "common/http/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace ghostpeer::metrics {
namespace {

// Registration mistakes and label-count mismatches are programming errors:
// crash loudly with the reason rather than emit an exposition Prometheus
// would reject as a whole.
[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "ghostpeer metrics: %s\n", message.c_str());
  std::abort();
}

bool ValidName(absl::string_view name, bool allow_colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok =
        absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_' ||
        (allow_colon && c == ':') ||
        (i > 0 && absl::ascii_isdigit(static_cast<unsigned char>(c)));
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // Integral values (every counter, most gauges) print exactly, without the
  // exponent a shortest-form conversion would pick for 1e+06.
  if (value == std::trunc(value) && std::fabs(value) < 9007199254740992.0) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  // Shortest round-trip digits; fixed notation in the range people read
  // (0.0005, not 5e-04), scientific outside it so a tiny value stays short.
  char buffer[64];
  const double magnitude = std::fabs(value);
  const std::chars_format format = magnitude >= 1e-6 && magnitude < 1e15
                                       ? std::chars_format::fixed
                                       : std::chars_format::general;
  const std::to_chars_result result =
      std::to_chars(buffer, buffer + sizeof(buffer), value, format);
  return std::string(buffer, result.ptr);
}

std::string EscapeLabelValue(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string EscapeHelp(absl::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  if (start <= 0 || factor <= 1 || count < 1) {
    Die(absl::StrCat("ExponentialBuckets(", start, ", ", factor, ", ", count,
                     "): want start > 0, factor > 1, count >= 1"));
  }
  std::vector<double> bounds;
  bounds.reserve(count);
  double bound = start;
  for (int i = 0; i < count; ++i) {
    bounds.push_back(bound);
    bound *= factor;
  }
  return bounds;
}

Family::Family(MetricType type, std::string name, std::string help,
               std::vector<std::string> label_names, size_t max_series,
               std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      type_(type),
      name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      max_series_(max_series) {
  if (!ValidName(name_, /*allow_colon=*/true)) {
    Die(absl::StrCat("invalid metric name '", name_, "'"));
  }
  for (const std::string& label : label_names_) {
    if (!ValidName(label, /*allow_colon=*/false) ||
        absl::StartsWith(label, "__") ||
        (type_ == MetricType::kHistogram && label == "le")) {
      Die(absl::StrCat("invalid label name '", label, "' for ", name_));
    }
  }
  for (size_t i = 1; i < bounds_.size(); ++i) {
    if (!(bounds_[i - 1] < bounds_[i])) {
      Die(absl::StrCat("histogram ", name_, ": bounds must ascend"));
    }
  }
  if (max_series_ < 1) Die(absl::StrCat(name_, ": max_series must be >= 1"));
}

size_t Family::series_count() const {
  absl::MutexLock lock(&mu_);
  return series_.size();
}

uint64_t Family::overflowed() const {
  absl::MutexLock lock(&mu_);
  return overflowed_;
}

Family::Series& Family::SeriesFor(const LabelValues& labels) {
  if (labels.size() != label_names_.size()) {
    Die(absl::StrCat(name_, ": ", labels.size(), " label values for ",
                     label_names_.size(), " label names"));
  }
  auto it = series_.find(labels);
  if (it != series_.end()) return it->second;
  // The overflow series takes one slot of the cap itself, so the family
  // never renders more than max_series_ series.
  const LabelValues overflow(label_names_.size(),
                             std::string(kOverflowLabelValue));
  const bool has_overflow = series_.count(overflow) > 0;
  const size_t regular = series_.size() - (has_overflow ? 1 : 0);
  if (regular + 1 >= max_series_ && labels != overflow) {
    ++overflowed_;
    Series& series = series_[overflow];
    if (type_ == MetricType::kHistogram && series.buckets.empty()) {
      series.buckets.assign(bounds_.size() + 1, 0);
    }
    return series;
  }
  Series& series = series_[labels];
  if (type_ == MetricType::kHistogram) {
    series.buckets.assign(bounds_.size() + 1, 0);
  }
  return series;
}

void Family::RenderSeries(const LabelValues& labels, const Series& series,
                          std::string* out) const {
  // `extra` is the histogram's `le` label, rendered after the family's own.
  auto label_text = [&](absl::string_view extra_name,
                        absl::string_view extra_value) {
    std::string text;
    for (size_t i = 0; i < label_names_.size(); ++i) {
      absl::StrAppend(&text, text.empty() ? "" : ",", label_names_[i], "=\"",
                      EscapeLabelValue(labels[i]), "\"");
    }
    if (!extra_name.empty()) {
      absl::StrAppend(&text, text.empty() ? "" : ",", extra_name, "=\"",
                      extra_value, "\"");
    }
    return text.empty() ? text : absl::StrCat("{", text, "}");
  };
  if (type_ != MetricType::kHistogram) {
    absl::StrAppend(out, name_, label_text("", ""), " ",
                    FormatValue(series.value), "\n");
    return;
  }
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += series.buckets[i];
    const std::string le =
        i < bounds_.size() ? FormatValue(bounds_[i]) : std::string("+Inf");
    absl::StrAppend(out, name_, "_bucket", label_text("le", le), " ",
                    cumulative, "\n");
  }
  absl::StrAppend(out, name_, "_sum", label_text("", ""), " ",
                  FormatValue(series.sum), "\n");
  absl::StrAppend(out, name_, "_count", label_text("", ""), " ", series.count,
                  "\n");
}

void Family::Render(std::string* out) const {
  absl::string_view type_name = type_ == MetricType::kCounter ? "counter"
                                : type_ == MetricType::kGauge ? "gauge"
                                                              : "histogram";
  absl::StrAppend(out, "# HELP ", name_, " ", EscapeHelp(help_), "\n",
                  "# TYPE ", name_, " ", type_name, "\n");
  absl::MutexLock lock(&mu_);
  for (const auto& [labels, series] : series_) {
    RenderSeries(labels, series, out);
  }
}

void CounterFamily::Increment(const LabelValues& labels, double delta) {
  if (!(delta > 0)) return;
  absl::MutexLock lock(&mu_);
  SeriesFor(labels).value += delta;
}

void CounterFamily::SetTotal(const LabelValues& labels, double total) {
  absl::MutexLock lock(&mu_);
  Series& series = SeriesFor(labels);
  // Several combinations folded into the overflow series each mirror their
  // own total; keeping the largest keeps the series monotonic.
  series.value = std::max(series.value, total);
}

void GaugeFamily::Set(const LabelValues& labels, double value) {
  absl::MutexLock lock(&mu_);
  SeriesFor(labels).value = value;
}

void GaugeFamily::ReplaceAll(
    const std::vector<std::pair<LabelValues, double>>& values) {
  absl::MutexLock lock(&mu_);
  series_.clear();
  for (const auto& [labels, value] : values) {
    const bool existed = series_.count(labels) > 0;
    Series& series = SeriesFor(labels);
    // A fresh regular series starts at 0; the overflow series accumulates.
    if (existed) {
      series.value = value;
    } else {
      series.value += value;
    }
  }
}

void HistogramFamily::Observe(const LabelValues& labels, double value,
                              uint64_t count) {
  if (count == 0) return;
  size_t bucket = 0;
  while (bucket < bounds_.size() && value > bounds_[bucket]) ++bucket;
  absl::MutexLock lock(&mu_);
  Series& series = SeriesFor(labels);
  series.buckets[bucket] += count;
  series.count += count;
  series.sum += value * static_cast<double>(count);
}

void HistogramFamily::Merge(const LabelValues& labels,
                            const std::vector<uint64_t>& bucket_counts,
                            double sum) {
  if (bucket_counts.size() != bounds_.size() + 1) {
    Die(absl::StrCat(name(), ": merge of ", bucket_counts.size(),
                     " buckets into ", bounds_.size() + 1));
  }
  absl::MutexLock lock(&mu_);
  Series& series = SeriesFor(labels);
  for (size_t i = 0; i < bucket_counts.size(); ++i) {
    series.buckets[i] += bucket_counts[i];
    series.count += bucket_counts[i];
  }
  series.sum += sum;
}

void HistogramFamily::SetTotals(const LabelValues& labels,
                                const std::vector<uint64_t>& bucket_counts,
                                double sum) {
  if (bucket_counts.size() != bounds_.size() + 1) {
    Die(absl::StrCat(name(), ": ", bucket_counts.size(), " buckets for ",
                     bounds_.size() + 1));
  }
  absl::MutexLock lock(&mu_);
  Series& series = SeriesFor(labels);
  series.buckets = bucket_counts;
  series.count = 0;
  for (uint64_t n : bucket_counts) series.count += n;
  series.sum = sum;
}

void Registry::CheckNewName(const std::string& name) const {
  for (const auto& family : families_) {
    if (family->name() == name) {
      Die(absl::StrCat("metric '", name, "' registered twice"));
    }
  }
}

CounterFamily* Registry::AddCounter(std::string name, std::string help,
                                    std::vector<std::string> label_names,
                                    size_t max_series) {
  absl::MutexLock lock(&mu_);
  CheckNewName(name);
  auto* family = new CounterFamily(MetricType::kCounter, std::move(name),
                                   std::move(help), std::move(label_names),
                                   max_series ? max_series : max_series_, {});
  families_.emplace_back(family);
  return family;
}

GaugeFamily* Registry::AddGauge(std::string name, std::string help,
                                std::vector<std::string> label_names,
                                size_t max_series) {
  absl::MutexLock lock(&mu_);
  CheckNewName(name);
  auto* family = new GaugeFamily(MetricType::kGauge, std::move(name),
                                 std::move(help), std::move(label_names),
                                 max_series ? max_series : max_series_, {});
  families_.emplace_back(family);
  return family;
}

HistogramFamily* Registry::AddHistogram(std::string name, std::string help,
                                        std::vector<std::string> label_names,
                                        std::vector<double> bounds,
                                        size_t max_series) {
  absl::MutexLock lock(&mu_);
  CheckNewName(name);
  auto* family = new HistogramFamily(MetricType::kHistogram, std::move(name),
                                     std::move(help), std::move(label_names),
                                     max_series ? max_series : max_series_,
                                     std::move(bounds));
  families_.emplace_back(family);
  return family;
}

void Registry::AddCollector(std::function<void()> collector) {
  absl::MutexLock lock(&mu_);
  collectors_.push_back(std::move(collector));
}

std::string Registry::Render() const {
  // One render at a time: collectors write the families they then render,
  // and two interleaved scrapes would mix their refreshes.
  absl::MutexLock render_lock(&render_mu_);
  std::vector<std::function<void()>> collectors;
  std::vector<const Family*> families;
  {
    absl::MutexLock lock(&mu_);
    collectors = collectors_;
    for (const auto& family : families_) families.push_back(family.get());
  }
  for (const auto& collect : collectors) collect();
  std::string out;
  for (const Family* family : families) family->Render(&out);
  return out;
}

}  // namespace ghostpeer::metrics
