// A self-pipe that lets any thread wake the communication thread out of
// zmq_poll (which polls raw file descriptors next to ZeroMQ sockets). Unlike an
// inproc socket it may be written from many threads at once.
#pragma once

namespace meshtrain::transport_internal {

class WakeupPipe {
 public:
  WakeupPipe();  // on failure valid() is false
  ~WakeupPipe();
  WakeupPipe(const WakeupPipe&) = delete;
  WakeupPipe& operator=(const WakeupPipe&) = delete;

  bool valid() const { return read_fd_ >= 0; }
  int read_fd() const { return read_fd_; }
  void Notify();  // thread-safe, never blocks
  void Drain();   // comm thread: consume all pending notifications

 private:
  int read_fd_ = -1;
  int write_fd_ = -1;
};

}  // namespace meshtrain::transport_internal
