// A TCP port held the way another process would hold it, for tests of what
// our listeners do when their port is taken.
#ifndef GHOSTPEER_TESTS_SUPPORT_HELD_PORT_H_
#define GHOSTPEER_TESTS_SUPPORT_HELD_PORT_H_

namespace ghostpeer::testing {

// A socket listening on a free port of 127.0.0.1 until destroyed. With
// `reuse_port` it offers to share the port (SO_REUSEPORT), as gRPC's own
// listening sockets do by default. Not inherited by child processes.
class HeldPort {
 public:
  explicit HeldPort(bool reuse_port = false);
  ~HeldPort();
  HeldPort(const HeldPort&) = delete;
  HeldPort& operator=(const HeldPort&) = delete;

  // The port; 0 when the socket could not be set up (the test then fails).
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

}  // namespace ghostpeer::testing

#endif  // GHOSTPEER_TESTS_SUPPORT_HELD_PORT_H_
