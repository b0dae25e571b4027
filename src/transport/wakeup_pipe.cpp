#include "wakeup_pipe.h"

#include <fcntl.h>
#include <unistd.h>

namespace meshtrain::transport_internal {

WakeupPipe::WakeupPipe() {
  int fds[2];
  if (pipe(fds) != 0) return;
  for (int fd : fds) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  read_fd_ = fds[0];
  write_fd_ = fds[1];
}

WakeupPipe::~WakeupPipe() {
  if (read_fd_ >= 0) close(read_fd_);
  if (write_fd_ >= 0) close(write_fd_);
}

void WakeupPipe::Notify() {
  const char byte = 1;
  // A full pipe already holds a wakeup, so EAGAIN is fine to ignore.
  [[maybe_unused]] ssize_t n = write(write_fd_, &byte, 1);
}

void WakeupPipe::Drain() {
  char buf[256];
  while (read(read_fd_, buf, sizeof(buf)) > 0) {
  }
}

}  // namespace meshtrain::transport_internal
