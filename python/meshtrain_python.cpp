// The Python module `meshtrain` (docs/api.md, "Python"): meshtrain::Peer over
// any writable, C-contiguous float32 buffer (a NumPy array, a CPU torch
// tensor's .numpy()) with no copy, the GIL released while it communicates,
// Ctrl-C honoured during the waits, and meshtrain's errors as meshtrain.Error
// with the messages the CLI prints.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <csignal>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "meshtrain/meshtrain.h"

namespace py = pybind11;

namespace {

PyObject* g_error = nullptr;  // meshtrain.Error

[[noreturn]] void Raise(const meshtrain::Status& status) {
  PyErr_SetString(g_error, status.ToString().c_str());
  throw py::error_already_set();
}

template <typename T>
T ValueOr(meshtrain::Result<T> result) {
  if (!result.ok()) Raise(result.status());
  return std::move(result).value();
}

void Check(const meshtrain::Status& status) {
  if (!status.ok()) Raise(status);
}

// A float32 view of a Python buffer, writable and C-contiguous, kept alive by
// the caller (the Peer holds the object while the view is attached).
std::span<float> FloatView(const py::buffer& buffer, const char* what) {
  py::buffer_info info = buffer.request(/*writable=*/true);
  if (info.format != py::format_descriptor<float>::format() || info.itemsize != sizeof(float)) {
    throw py::value_error(std::string(what) + " must hold float32 values (got format '" + info.format + "')");
  }
  py::ssize_t expected = static_cast<py::ssize_t>(sizeof(float));
  for (py::ssize_t d = info.ndim - 1; d >= 0; --d) {
    if (info.shape[d] > 1 && info.strides[d] != expected) {
      throw py::value_error(std::string(what) + " must be C-contiguous (e.g. numpy.ascontiguousarray)");
    }
    expected *= info.shape[d];
  }
  return {static_cast<float*>(info.ptr), static_cast<size_t>(info.size)};
}

// While a call waits on the network with the GIL released, SIGINT sets the
// stop flag the C++ waits look at and leaves Python's KeyboardInterrupt
// pending, raised when the call returns.
std::atomic<bool> g_stop{false};
extern "C" void OnInterrupt(int signal_number) {
  g_stop.store(true);
  PyErr_SetInterruptEx(signal_number);
}

class InterruptibleCall {
 public:
  InterruptibleCall() {
    g_stop.store(false);
    struct sigaction action {};
    action.sa_handler = OnInterrupt;
    sigemptyset(&action.sa_mask);
    installed_ = sigaction(SIGINT, &action, &previous_) == 0;
  }
  ~InterruptibleCall() {
    if (installed_) sigaction(SIGINT, &previous_, nullptr);
  }
  const std::atomic<bool>* stop() const { return &g_stop; }

 private:
  struct sigaction previous_ {};
  bool installed_ = false;
};

// Runs `call` without the GIL and with Ctrl-C turned into a stop.
template <typename F>
auto Blocking(F&& call) {
  InterruptibleCall interruptible;
  decltype(call(interruptible.stop())) out = [&] {
    py::gil_scoped_release released;
    return call(interruptible.stop());
  }();
  if (PyErr_CheckSignals() != 0) throw py::error_already_set();
  return out;
}

class PyPeer {
 public:
  PyPeer(const std::string& config, const std::string& id, int64_t steps, std::vector<std::string> overrides)
      : peer_(ValueOr(meshtrain::Peer::Open({config, id, std::move(overrides), steps}))) {}

  void Attach(py::buffer params, std::optional<py::buffer> optimizer_state) {
    std::span<float> state;
    if (optimizer_state) state = FloatView(*optimizer_state, "optimizer_state");
    Check(peer_->Attach(FloatView(params, "params"), state));
    held_ = {params, optimizer_state ? py::object(*optimizer_state) : py::none()};
  }

  void Start() { Check(Blocking([&](auto stop) { return peer_->Start(stop); })); }

  bool BeginStep() {
    return ValueOr(Blocking([&](auto stop) { return peer_->BeginStep(stop); }));
  }

  // True: the mean gradient is in `grads`; False: redo the step.
  bool AllReduce(py::buffer grads, int64_t rows) {
    const std::span<float> view = FloatView(grads, "grads");
    const meshtrain::Round round = ValueOr(Blocking([&](auto) { return peer_->AllReduce(view, rows); }));
    return round == meshtrain::Round::kDone;
  }

  void EndStep() { Check(Blocking([&](auto) { return peer_->EndStep(); })); }
  void Finish() { Check(Blocking([&](auto stop) { return peer_->Finish(stop); })); }
  bool done() const { return peer_->done(); }
  int64_t step() const { return peer_->step(); }
  std::vector<std::string> view() const { return peer_->view(); }
  std::vector<std::pair<std::string, std::string>> DrainEvents() {
    std::vector<std::pair<std::string, std::string>> out;
    for (const meshtrain::PeerEvent& e : peer_->DrainEvents()) out.emplace_back(e.name, e.detail);
    return out;
  }

 private:
  std::unique_ptr<meshtrain::Peer> peer_;
  std::vector<py::object> held_;  // the attached buffers' owners, alive while attached
};

}  // namespace

PYBIND11_MODULE(meshtrain, m) {
  m.doc() = "A peer of a meshtrain cluster in your own training loop (docs/api.md).";
  static py::exception<std::runtime_error> error(m, "Error");
  g_error = error.ptr();
  py::class_<PyPeer>(m, "Peer")
      .def(py::init<const std::string&, const std::string&, int64_t, std::vector<std::string>>(), py::arg("config"),
           py::arg("id"), py::arg("steps"), py::arg("overrides") = std::vector<std::string>{},
           "Reads the cluster file (as meshtrain run --config --id --set); steps: the run's length")
      .def("attach", &PyPeer::Attach, py::arg("params"), py::arg("optimizer_state") = py::none(),
           "The float32 buffers every peer keeps equal (no copy); binds this peer's endpoint")
      .def("start", &PyPeer::Start, "Waits for the cluster (or joins it)")
      .def("begin_step", &PyPeer::BeginStep, "Before each step: False means ask again (a view change)")
      .def("all_reduce", &PyPeer::AllReduce, py::arg("grads"), py::arg("rows") = 1,
           "grads becomes the cluster's mean; False: redo the step")
      .def("end_step", &PyPeer::EndStep, "After your update: averaging or gossip when due")
      .def("finish", &PyPeer::Finish, "After the last step: wait for the others, say goodbye")
      .def_property_readonly("done", &PyPeer::done)
      .def_property_readonly("step", &PyPeer::step)
      .def_property_readonly("view", &PyPeer::view)
      .def("drain_events", &PyPeer::DrainEvents, "(name, detail) of what happened since the last call");
}
