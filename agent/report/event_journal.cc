#include "agent/report/event_journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/errno_status.h"
#include "common/status_macros.h"

namespace ghostpeer::agent {
namespace {

// Compact events.log once this many acknowledged records sit in it.
constexpr size_t kCompactAfterAckedRecords = 4096;
// One address event is far smaller; a larger length means a corrupt file.
constexpr uint32_t kMaxRecordBytes = 1 << 20;

std::string NewInstanceId() {
  std::random_device random;
  return absl::StrFormat("%08x%08x", random(), random());
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoToStatus(errno, absl::StrCat("open ", path));
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

// Writes `content` to `path` atomically: a reader sees the old or the new.
absl::Status ReplaceFile(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  const int fd =
      ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoToStatus(errno, absl::StrCat("create ", tmp));
  size_t written = 0;
  while (written < content.size()) {
    const ssize_t n =
        ::write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int saved = errno;
      ::close(fd);
      return ErrnoToStatus(saved, absl::StrCat("write ", tmp));
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("sync ", tmp));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("rename ", tmp));
  }
  return absl::OkStatus();
}

std::string EncodeRecord(const v1::AddressEvent& event) {
  std::string payload;
  event.SerializeToString(&payload);
  const uint32_t size = static_cast<uint32_t>(payload.size());
  std::string record(4, '\0');
  for (int i = 0; i < 4; ++i) record[i] = static_cast<char>(size >> (8 * i));
  return record + payload;
}

absl::Status AppendAll(int fd, const std::string& bytes,
                       const std::string& path) {
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n =
        ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoToStatus(errno, absl::StrCat("append ", path));
    written += static_cast<size_t>(n);
  }
  if (::fdatasync(fd) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("sync ", path));
  }
  return absl::OkStatus();
}

}  // namespace

EventJournal::EventJournal(EventJournalOptions options)
    : options_(std::move(options)) {}

EventJournal::~EventJournal() {
  absl::MutexLock lock(&mu_);
  if (log_fd_ >= 0) ::close(log_fd_);
}

absl::StatusOr<std::unique_ptr<EventJournal>> EventJournal::Open(
    EventJournalOptions options) {
  if (options.max_events == 0) {
    return absl::InvalidArgumentError("event journal: max_events must be > 0");
  }
  std::unique_ptr<EventJournal> journal(new EventJournal(std::move(options)));
  if (journal->options_.state_dir.empty()) {
    journal->instance_ = NewInstanceId();
    return journal;
  }
  GHOSTPEER_RETURN_IF_ERROR(journal->Load());
  return journal;
}

absl::Status EventJournal::Load() {
  const std::string& dir = options_.state_dir;
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoToStatus(errno, absl::StrCat("create state dir ", dir));
  }
  const std::string instance_path = dir + "/instance";
  absl::StatusOr<std::string> instance = ReadFile(instance_path);
  if (instance.ok()) {
    instance_ = std::string(absl::StripAsciiWhitespace(*instance));
  }
  if (!instance.ok() || instance_.empty()) {
    instance_ = NewInstanceId();
    GHOSTPEER_RETURN_IF_ERROR(ReplaceFile(instance_path, instance_ + "\n"));
  }

  absl::MutexLock lock(&mu_);
  absl::StatusOr<std::string> acked = ReadFile(dir + "/acked");
  if (acked.ok() &&
      !absl::SimpleAtoi(absl::StripAsciiWhitespace(*acked), &acked_seq_)) {
    return absl::DataLossError(
        absl::StrCat("state dir ", dir, ": 'acked' is not a number"));
  }

  const std::string log_path = dir + "/events.log";
  absl::StatusOr<std::string> log = ReadFile(log_path);
  size_t valid_bytes = 0;
  if (log.ok()) {
    const std::string& bytes = *log;
    size_t at = 0;
    while (at + 4 <= bytes.size()) {
      uint32_t size = 0;
      for (int i = 0; i < 4; ++i) {
        size |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[at + i]))
                << (8 * i);
      }
      if (size > kMaxRecordBytes) {
        return absl::DataLossError(absl::StrCat(
            log_path, ": record at byte ", at, " claims ", size, " bytes"));
      }
      if (at + 4 + size > bytes.size()) break;  // torn tail
      v1::AddressEvent event;
      if (!event.ParseFromArray(bytes.data() + at + 4,
                                static_cast<int>(size))) {
        break;  // torn tail that happened to have a plausible length
      }
      at += 4 + size;
      valid_bytes = at;
      last_seq_ = std::max(last_seq_, event.seq());
      if (event.seq() <= acked_seq_) {
        ++log_acked_records_;
        continue;
      }
      pending_.push_back(std::move(event));
    }
  }
  last_seq_ = std::max(last_seq_, acked_seq_);
  log_fd_ = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (log_fd_ < 0) return ErrnoToStatus(errno, absl::StrCat("open ", log_path));
  // Cut a torn tail so new records follow the last whole one.
  if (::ftruncate(log_fd_, static_cast<off_t>(valid_bytes)) != 0 ||
      ::lseek(log_fd_, 0, SEEK_END) < 0) {
    return ErrnoToStatus(errno, absl::StrCat("truncate ", log_path));
  }
  return absl::OkStatus();
}

absl::Status EventJournal::Append(std::vector<v1::AddressEvent> events) {
  if (events.empty()) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  std::string bytes;
  for (v1::AddressEvent& event : events) {
    event.set_seq(++last_seq_);
    if (log_fd_ >= 0) bytes += EncodeRecord(event);
  }
  if (log_fd_ >= 0) {
    GHOSTPEER_RETURN_IF_ERROR(
        AppendAll(log_fd_, bytes, options_.state_dir + "/events.log"));
  }
  for (v1::AddressEvent& event : events) pending_.push_back(std::move(event));
  while (pending_.size() > options_.max_events) {
    pending_.pop_front();
    ++dropped_;
  }
  return absl::OkStatus();
}

std::vector<v1::AddressEvent> EventJournal::Pending(uint64_t after,
                                                    size_t max) const {
  absl::MutexLock lock(&mu_);
  std::vector<v1::AddressEvent> out;
  for (const v1::AddressEvent& event : pending_) {
    if (out.size() >= max) break;
    if (event.seq() > after) out.push_back(event);
  }
  return out;
}

absl::Status EventJournal::Acknowledge(uint64_t seq) {
  absl::MutexLock lock(&mu_);
  if (seq <= acked_seq_) return absl::OkStatus();
  acked_seq_ = std::min(seq, last_seq_);
  while (!pending_.empty() && pending_.front().seq() <= acked_seq_) {
    pending_.pop_front();
    ++log_acked_records_;
  }
  if (options_.state_dir.empty()) return absl::OkStatus();
  GHOSTPEER_RETURN_IF_ERROR(ReplaceFile(options_.state_dir + "/acked",
                                        absl::StrCat(acked_seq_, "\n")));
  if (log_acked_records_ >= kCompactAfterAckedRecords) return Compact();
  return absl::OkStatus();
}

absl::Status EventJournal::Compact() {
  // Rewrite events.log with only the pending events, then swap it in.
  const std::string log_path = options_.state_dir + "/events.log";
  std::string bytes;
  for (const v1::AddressEvent& event : pending_) bytes += EncodeRecord(event);
  GHOSTPEER_RETURN_IF_ERROR(ReplaceFile(log_path, bytes));
  ::close(log_fd_);
  log_fd_ = ::open(log_path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (log_fd_ < 0) return ErrnoToStatus(errno, absl::StrCat("open ", log_path));
  log_acked_records_ = 0;
  return absl::OkStatus();
}

uint64_t EventJournal::last_seq() const {
  absl::MutexLock lock(&mu_);
  return last_seq_;
}
uint64_t EventJournal::acked_seq() const {
  absl::MutexLock lock(&mu_);
  return acked_seq_;
}
size_t EventJournal::pending_count() const {
  absl::MutexLock lock(&mu_);
  return pending_.size();
}
uint64_t EventJournal::dropped_count() const {
  absl::MutexLock lock(&mu_);
  return dropped_;
}

}  // namespace ghostpeer::agent
