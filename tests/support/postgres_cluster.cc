#include "tests/support/postgres_cluster.h"

#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/errno_status.h"
#include "tests/support/command.h"

namespace ghostpeer::testing {
namespace {

constexpr char kBinDir[] = "/usr/lib/postgresql/15/bin";
constexpr char kUser[] = "ghostpeer";  // the cluster's superuser
constexpr char kPort[] = "5432";       // names the socket file only
// The system user created when the package's `postgres` is missing.
constexpr char kFallbackOsUser[] = "ghostpeer-pg";

// The user to run initdb and postgres as: never root.
absl::Status ChooseUser(uid_t* uid, gid_t* gid) {
  if (geteuid() != 0) {
    *uid = geteuid();
    *gid = getegid();
    return absl::OkStatus();
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    for (const char* name : {"postgres", kFallbackOsUser}) {
      if (const passwd* pw = getpwnam(name); pw != nullptr) {
        *uid = pw->pw_uid;
        *gid = pw->pw_gid;
        return absl::OkStatus();
      }
    }
    // Exit status 9: created meanwhile by another test program.
    absl::StatusOr<std::string> created =
        RunCommand({"useradd", "--system", "--no-create-home", "--shell",
                    "/usr/sbin/nologin", kFallbackOsUser});
    if (!created.ok() &&
        created.status().message().find("exit status 9") == std::string::npos) {
      return created.status();
    }
  }
  return absl::InternalError("no unprivileged user for postgres");
}

// The last lines of `path`, for error messages.
std::string Tail(const std::string& path) {
  std::ifstream in(path);
  std::stringstream all;
  all << in.rdbuf();
  std::string text = all.str();
  if (text.size() > 2000) text = "..." + text.substr(text.size() - 2000);
  return text;
}

// Forks `argv` as (uid, gid) in `directory`, its output appended to `log`.
// Everything the child needs is prepared before fork: after it, syscalls
// only (the test program may have threads).
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv,
                            const std::string& directory,
                            const std::string& log, uid_t uid, gid_t gid) {
  std::vector<char*> args;
  for (const std::string& arg : argv) {
    args.push_back(const_cast<char*>(arg.c_str()));
  }
  args.push_back(nullptr);
  const int out =
      open(log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (out < 0) return ErrnoToStatus(errno, absl::StrCat("open ", log));
  const int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const bool change_user = geteuid() == 0;
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    const int error = errno;
    close(out);
    close(in);
    return ErrnoToStatus(error, "fork");
  }
  if (pid == 0) {
    // The server dies with the test program, even on a crash.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    dup2(in, STDIN_FILENO);
    dup2(out, STDOUT_FILENO);
    dup2(out, STDERR_FILENO);
    if (change_user &&
        (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(uid) != 0)) {
      _exit(126);
    }
    if (chdir(directory.c_str()) != 0) _exit(126);
    execv(args[0], args.data());
    _exit(127);
  }
  close(out);
  close(in);
  return pid;
}

}  // namespace

PostgresCluster::PostgresCluster(std::string directory, uid_t uid, gid_t gid,
                                 bool durable)
    : directory_(std::move(directory)),
      uid_(uid),
      gid_(gid),
      durable_(durable) {}

absl::StatusOr<std::unique_ptr<PostgresCluster>> PostgresCluster::Create(
    bool durable) {
  const std::string initdb = absl::StrCat(kBinDir, "/initdb");
  if (access(initdb.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(initdb,
                     " missing: install Debian's postgresql package "
                     "(scripts/install-deps.sh)"));
  }
  uid_t uid = 0;
  gid_t gid = 0;
  if (absl::Status s = ChooseUser(&uid, &gid); !s.ok()) return s;
  char pattern[] = "/tmp/ghostpeer-pg-XXXXXX";
  if (mkdtemp(pattern) == nullptr) return ErrnoToStatus(errno, "mkdtemp");
  std::unique_ptr<PostgresCluster> cluster(
      new PostgresCluster(pattern, uid, gid, durable));
  if (chown(pattern, uid, gid) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("chown ", pattern));
  }
  const std::string log = absl::StrCat(pattern, "/initdb.log");
  absl::StatusOr<pid_t> pid = Spawn(
      {initdb, "-D", absl::StrCat(pattern, "/data"), "-U", kUser, "-A", "trust",
       "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"},
      pattern, log, uid, gid);
  if (!pid.ok()) return pid.status();
  const int status = WaitForExit(*pid, absl::Minutes(3));
  if (status == -1) {
    KillAndReap(*pid).IgnoreError();
    return absl::DeadlineExceededError(
        absl::StrCat("initdb timed out: ", Tail(log)));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(
        absl::StrCat("initdb failed (status ", status, "): ", Tail(log)));
  }
  if (absl::Status s = cluster->Start(); !s.ok()) return s;
  return cluster;
}

PostgresCluster::~PostgresCluster() {
  Stop().IgnoreError();
  std::error_code ignored;
  std::filesystem::remove_all(directory_, ignored);
}

absl::Status PostgresCluster::Start(absl::Duration timeout) {
  if (running()) {
    return absl::FailedPreconditionError("postgres already running");
  }
  const std::string log = absl::StrCat(directory_, "/postgres.log");
  // fsync off unless durable: the tests stop and kill the server, never
  // the machine, and a shared CI machine's disk is slow enough.
  absl::StatusOr<pid_t> pid = Spawn(
      {absl::StrCat(kBinDir, "/postgres"), "-D",
       absl::StrCat(directory_, "/data"), "-k", directory_, "-p", kPort, "-c",
       "listen_addresses=", "-c", durable_ ? "fsync=on" : "fsync=off", "-c",
       "max_connections=40", "-c", "shared_buffers=16MB"},
      directory_, log, uid_, gid_);
  if (!pid.ok()) return pid.status();
  pid_ = *pid;
  const std::string conninfo =
      absl::StrCat("host=", directory_, " port=", kPort, " user=", kUser,
                   " dbname=postgres connect_timeout=5");
  const absl::Time deadline = absl::Now() + timeout;
  while (PQping(conninfo.c_str()) != PQPING_OK) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::InternalError(
          absl::StrCat("postgres exited (status ", status, "): ", Tail(log)));
    }
    if (absl::Now() >= deadline) {
      Stop(absl::Seconds(5)).IgnoreError();
      return absl::DeadlineExceededError(
          absl::StrCat("postgres not accepting connections after ",
                       absl::FormatDuration(timeout), ": ", Tail(log)));
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::OkStatus();
}

absl::Status PostgresCluster::Stop(absl::Duration timeout) {
  if (!running()) return absl::OkStatus();
  const pid_t pid = pid_;
  pid_ = -1;
  if (kill(pid, SIGINT) != 0 && errno != ESRCH) {
    return ErrnoToStatus(errno, absl::StrCat("kill postgres ", pid));
  }
  if (WaitForExit(pid, timeout) != -1) return absl::OkStatus();
  absl::Status killed = KillAndReap(pid);
  if (!killed.ok()) return killed;
  return absl::DeadlineExceededError(
      absl::StrCat("postgres ", pid, " ignored SIGINT for ",
                   absl::FormatDuration(timeout), "; killed"));
}

std::string PostgresCluster::Uri(const std::string& database,
                                 const std::string& password) const {
  return absl::StrCat("postgresql://", kUser,
                      password.empty() ? "" : absl::StrCat(":", password), "@/",
                      database, "?host=", directory_, "&port=", kPort);
}

absl::StatusOr<std::string> PostgresCluster::Query(
    const std::string& database, const std::string& sql) const {
  PGconn* conn = PQconnectdb(Uri(database).c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string error = PQerrorMessage(conn);
    PQfinish(conn);
    return absl::UnavailableError(absl::StrCat("connect: ", error));
  }
  PGresult* result = PQexec(conn, sql.c_str());
  const ExecStatusType status = PQresultStatus(result);
  absl::StatusOr<std::string> answer;
  if (status == PGRES_TUPLES_OK) {
    answer = PQntuples(result) > 0 && PQnfields(result) > 0
                 ? std::string(PQgetvalue(result, 0, 0))
                 : std::string();
  } else if (status == PGRES_COMMAND_OK) {
    answer = std::string();
  } else {
    answer = absl::InternalError(
        absl::StrCat(sql, ": ", PQresultErrorMessage(result)));
  }
  PQclear(result);
  PQfinish(conn);
  return answer;
}

absl::StatusOr<std::string> PostgresCluster::CreateDatabase(
    const std::string& name) {
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_') {
      return absl::InvalidArgumentError(absl::StrCat("database name ", name));
    }
  }
  absl::StatusOr<std::string> done =
      Query("postgres", absl::StrCat("CREATE DATABASE ", name));
  if (!done.ok()) return done.status();
  return Uri(name);
}

}  // namespace ghostpeer::testing
