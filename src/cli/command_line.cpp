#include "cli/command_line.h"

#include <algorithm>
#include <cstdlib>
#include <iterator>

namespace meshtrain {

const char* UsageText() {
  return "usage:\n"
         "  meshtrain run --config FILE [--id ID] [--set section.key=value ...] [--resume]\n"
         "  meshtrain eval --config FILE --checkpoint PATH [--id ID] [--set section.key=value ...]\n"
         "  meshtrain inspect CHECKPOINT\n"
         "  meshtrain peers --config FILE [--set section.key=value ...]   (id and endpoint of each peer)\n"
         "  meshtrain report RUN_DIR        (summary table of runs/<peer>/metrics.jsonl)\n"
         "  meshtrain watch RUN_DIR [--pid PID]   (one live view of every peer)\n"
         "  meshtrain keygen --out DIR [--name PEER_ID]   (CURVE key pair: DIR/PEER_ID.key, mode 0600,\n"
         "                                  and DIR/PEER_ID.pub; prints the public key)\n"
         "  meshtrain --help | --version\n"
         "exit codes: 0 done, 2 bad config or arguments, 1 other failure,\n"
         "            128+N stopped by signal N after a checkpoint (143 SIGTERM, 130 SIGINT)\n";
}

Result<Command> ParseCommandLine(const std::vector<std::string>& args) {
  Command cmd;
  if (args.empty()) return Status::InvalidArgument("missing command (run, eval or inspect)");
  cmd.verb = args[0];
  if (cmd.verb == "--help" || cmd.verb == "-h" || cmd.verb == "help") {
    cmd.verb = "help";
    return cmd;
  }
  if (cmd.verb == "--version" || cmd.verb == "version") {
    cmd.verb = "version";
    return cmd;
  }
  static const char* kVerbs[] = {"run", "eval", "inspect", "peers", "report", "watch", "keygen"};
  if (std::find(std::begin(kVerbs), std::end(kVerbs), cmd.verb) == std::end(kVerbs)) {
    return Status::InvalidArgument("unknown command '" + cmd.verb +
                                   "' (expected run, eval, inspect, peers, report, watch or keygen)");
  }
  std::vector<std::string> positional;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    // Both "--key value" and "--key=value" are accepted.
    std::string key = a, inline_value;
    bool has_inline = false;
    if (a.rfind("--", 0) == 0) {
      auto eq = a.find('=');
      if (eq != std::string::npos) {
        key = a.substr(0, eq);
        inline_value = a.substr(eq + 1);
        has_inline = true;
      }
    }
    auto value = [&](std::string* out) -> Status {
      if (has_inline) {
        *out = inline_value;
      } else if (i + 1 < args.size()) {
        *out = args[++i];
      } else {
        return Status::InvalidArgument(key + " needs a value");
      }
      if (out->empty()) return Status::InvalidArgument(key + " needs a non-empty value");
      return Status::OK();
    };
    if (key == "--config" || key == "-c") {
      MESHTRAIN_RETURN_IF_ERROR(value(&cmd.config_path));
    } else if (key == "--id") {
      MESHTRAIN_RETURN_IF_ERROR(value(&cmd.id));
    } else if (key == "--set") {
      std::string kv;
      MESHTRAIN_RETURN_IF_ERROR(value(&kv));
      if (kv.find('=') == std::string::npos || kv.find('.') == std::string::npos || kv.find('.') > kv.find('=')) {
        return Status::InvalidArgument("--set " + kv + ": expected section.key=value");
      }
      cmd.overrides.push_back(kv);
    } else if (key == "--resume" && !has_inline && cmd.verb == "run") {
      cmd.resume = true;
    } else if (key == "--checkpoint" && cmd.verb == "eval") {
      MESHTRAIN_RETURN_IF_ERROR(value(&cmd.checkpoint_path));
    } else if (key == "--pid" && cmd.verb == "watch") {
      std::string pid;
      MESHTRAIN_RETURN_IF_ERROR(value(&pid));
      char* end = nullptr;
      long v = std::strtol(pid.c_str(), &end, 10);
      if (*end != '\0' || v <= 0) return Status::InvalidArgument("--pid " + pid + ": expected a process id");
      cmd.watch_pid = static_cast<int>(v);
    } else if (key == "--out" && cmd.verb == "keygen") {
      MESHTRAIN_RETURN_IF_ERROR(value(&cmd.keygen_dir));
    } else if (key == "--name" && cmd.verb == "keygen") {
      MESHTRAIN_RETURN_IF_ERROR(value(&cmd.keygen_name));
    } else if (a.rfind("-", 0) == 0) {
      return Status::InvalidArgument("unknown option '" + a + "' for " + cmd.verb);
    } else {
      positional.push_back(a);
    }
  }
  if (cmd.verb == "inspect") {
    if (positional.size() != 1) return Status::InvalidArgument("inspect takes exactly one checkpoint path");
    cmd.checkpoint_path = positional[0];
    return cmd;
  }
  if (cmd.verb == "report" || cmd.verb == "watch") {
    if (positional.size() != 1) return Status::InvalidArgument(cmd.verb + " takes exactly one run directory");
    cmd.run_dir = positional[0];
    return cmd;
  }
  if (!positional.empty()) return Status::InvalidArgument("unexpected argument '" + positional[0] + "'");
  if (cmd.verb == "keygen") {
    if (cmd.keygen_dir.empty()) return Status::InvalidArgument("keygen needs --out DIR");
    return cmd;
  }
  if (cmd.config_path.empty()) return Status::InvalidArgument(cmd.verb + " needs --config FILE");
  if (cmd.verb == "eval" && cmd.checkpoint_path.empty()) return Status::InvalidArgument("eval needs --checkpoint PATH");
  return cmd;
}

}  // namespace meshtrain
