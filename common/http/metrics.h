// A small Prometheus metrics registry and its text exposition format (0.0.4),
// shared by the aggregator and the agent.
//
// Cardinality is bounded by construction: every family holds at most
// `max_series` label combinations; a new combination past the cap is folded
// into one overflow series whose every label value is kOverflowLabelValue.
// Label values must therefore name bounded things (a kind, a service, a
// node), never a socket or an address.
#ifndef GHOSTPEER_COMMON_HTTP_METRICS_H_
#define GHOSTPEER_COMMON_HTTP_METRICS_H_

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace ghostpeer::metrics {

// The label value that stands for every combination past a family's cap.
inline constexpr absl::string_view kOverflowLabelValue = "_other";

// Label values, in the order of the family's label names.
using LabelValues = std::vector<std::string>;

enum class MetricType { kCounter, kGauge, kHistogram };

// Formats a sample value the way Prometheus parses it: integers without an
// exponent, other values in the shortest form that round-trips, "+Inf",
// "-Inf" and "NaN". Pure.
std::string FormatValue(double value);

// Escapes a label value for the exposition format: backslash, double quote
// and newline. Pure.
std::string EscapeLabelValue(absl::string_view value);

// Escapes HELP text: backslash and newline. Pure.
std::string EscapeHelp(absl::string_view help);

// Buckets growing by `factor` from `start`: start, start*factor, ... (`count`
// of them). Requires start > 0, factor > 1, count >= 1.
std::vector<double> ExponentialBuckets(double start, double factor, int count);

// State shared by the three family kinds: name, help, label names and the
// series map with its cardinality cap. All methods are thread-safe.
class Family {
 public:
  virtual ~Family() = default;
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;

  const std::string& name() const { return name_; }
  MetricType type() const { return type_; }
  size_t max_series() const { return max_series_; }
  // Series currently held (the overflow series included).
  size_t series_count() const;
  // Label combinations folded into the overflow series so far.
  uint64_t overflowed() const;

  // Appends this family's HELP, TYPE and samples, series sorted by labels.
  void Render(std::string* out) const;

 protected:
  struct Series {
    double value = 0;               // counter and gauge
    std::vector<uint64_t> buckets;  // histogram: per bucket, not cumulative
    uint64_t count = 0;             // histogram
    double sum = 0;                 // histogram
  };

  Family(MetricType type, std::string name, std::string help,
         std::vector<std::string> label_names, size_t max_series,
         std::vector<double> bounds);

  // The series for `labels` (created if missing), or the overflow series
  // past the cap. Dies when the number of values differs from the label
  // names: that is a programming error, not an input error.
  Series& SeriesFor(const LabelValues& labels)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::map<LabelValues, Series> series_ ABSL_GUARDED_BY(mu_);
  uint64_t overflowed_ ABSL_GUARDED_BY(mu_) = 0;
  const std::vector<double> bounds_;  // histogram upper bounds, ascending

 private:
  void RenderSeries(const LabelValues& labels, const Series& series,
                    std::string* out) const;

  const MetricType type_;
  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const size_t max_series_;
};

// A monotonic counter, per label combination.
class CounterFamily final : public Family {
 public:
  // Adds `delta` (>= 0; a negative delta is ignored: counters never go down).
  void Increment(const LabelValues& labels, double delta = 1);
  // Mirrors a total kept elsewhere (an Engine counter, a ReporterStats
  // field). The caller guarantees it is monotonic within the process.
  void SetTotal(const LabelValues& labels, double total);

 private:
  friend class Registry;
  using Family::Family;
};

// A value that goes up and down, per label combination.
class GaugeFamily final : public Family {
 public:
  void Set(const LabelValues& labels, double value);
  // Replaces every series with `values` at once, so combinations that
  // disappeared (a service with no open finding) disappear from the output
  // too. Values of combinations past the cap are summed into the overflow
  // series, which keeps totals right for additive gauges.
  void ReplaceAll(const std::vector<std::pair<LabelValues, double>>& values);

 private:
  friend class Registry;
  using Family::Family;
};

// A histogram with fixed upper bounds (the +Inf bucket is implicit).
class HistogramFamily final : public Family {
 public:
  // Records `count` observations of `value` (count 0 records nothing).
  void Observe(const LabelValues& labels, double value, uint64_t count = 1);
  // Adds `count` observations whose total is `sum`, `bucket_counts[i]` of
  // them in bucket i (non-cumulative; size = bounds + 1 for +Inf). For
  // merging histograms kept elsewhere. InvalidArgument-free: a size
  // mismatch is a programming error and dies.
  void Merge(const LabelValues& labels,
             const std::vector<uint64_t>& bucket_counts, double sum);
  // Mirrors a histogram kept elsewhere (cumulative since its process
  // start): replaces the series' buckets (non-cumulative, bounds + 1 with
  // +Inf last), count (their sum) and sum. A size mismatch dies.
  void SetTotals(const LabelValues& labels,
                 const std::vector<uint64_t>& bucket_counts, double sum);
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  friend class Registry;
  using Family::Family;
};

// Owns metric families and renders them. Families are registered once, at
// start-up; registering the same name twice dies (a programming error).
// Collectors run at the start of each Render() to refresh values that are
// cheaper to read on demand than to maintain (gauges computed from state).
// Thread-safe; collectors run on the rendering thread, one Render() at a
// time.
class Registry {
 public:
  // `max_series` is the default per-family cardinality cap.
  explicit Registry(size_t max_series = 500) : max_series_(max_series) {}

  // The returned pointers live as long as the registry. `max_series` 0 means
  // the registry's default.
  CounterFamily* AddCounter(std::string name, std::string help,
                            std::vector<std::string> label_names = {},
                            size_t max_series = 0);
  GaugeFamily* AddGauge(std::string name, std::string help,
                        std::vector<std::string> label_names = {},
                        size_t max_series = 0);
  HistogramFamily* AddHistogram(std::string name, std::string help,
                                std::vector<std::string> label_names,
                                std::vector<double> bounds,
                                size_t max_series = 0);

  void AddCollector(std::function<void()> collector);

  // The exposition text: every family in registration order.
  std::string Render() const;

 private:
  void CheckNewName(const std::string& name) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t max_series_;
  mutable absl::Mutex mu_;
  mutable absl::Mutex render_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::vector<std::unique_ptr<Family>> families_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void()>> collectors_ ABSL_GUARDED_BY(mu_);
};

// Content-Type of the exposition format.
inline constexpr absl::string_view kExpositionContentType =
    "text/plain; version=0.0.4; charset=utf-8";

}  // namespace ghostpeer::metrics

#endif  // GHOSTPEER_COMMON_HTTP_METRICS_H_
