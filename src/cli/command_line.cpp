#include "cli/command_line.h"

#include <algorithm>
#include <cstdlib>
#include <iterator>

#include "config/text_checks.h"

namespace meshtrain {

namespace {

struct CommandHelp {
  const char* verb;
  const char* synopsis;
  const char* details;
};

// One entry per command: the usage line and what `meshtrain COMMAND --help` adds.
constexpr CommandHelp kCommands[] = {
    {"run", "meshtrain run --config FILE [--id ID] [--set section.key=value ...] [--resume]",
     "Trains this peer of the cluster the config lists (docs/training.md, docs/config.md).\n"
     "  --config FILE   the cluster's TOML config\n"
     "  --id ID         this peer's id in cluster.peers (or [peer] id in the file)\n"
     "  --set K=V       override a config key, e.g. --set train.epochs=3 (repeatable)\n"
     "  --resume        continue from the newest checkpoint written in checkpoint.dir\n"
     "SIGINT/SIGTERM at any moment: checkpoint what was trained, say goodbye, exit 130/143.\n"},
    {"eval", "meshtrain eval --config FILE --checkpoint PATH [--id ID] [--set section.key=value ...]",
     "Evaluates a checkpoint on the config's test set and prints one JSON line.\n"},
    {"inspect", "meshtrain inspect CHECKPOINT", "Prints a checkpoint's header (step, epoch, model, sizes, config hash).\n"},
    {"peers", "meshtrain peers --config FILE [--set section.key=value ...]",
     "Validates the config as `run` does and prints the id and endpoint of each peer.\n"},
    {"report", "meshtrain report RUN_DIR",
     "Summary table of RUN_DIR/<peer>/metrics.jsonl: the latest run of each peer.\n"},
    {"watch", "meshtrain watch RUN_DIR [--pid PID] [--http HOST:PORT]",
     "One live view of every peer of RUN_DIR; ends when all are done or PID has exited.\n"
     "  --http HOST:PORT  also serve a live status page there (docs/observability.md), until\n"
     "                    SIGINT/SIGTERM or PID's exit, e.g. --http 127.0.0.1:8080\n"},
    {"keygen", "meshtrain keygen --out DIR [--name PEER_ID]",
     "Writes a CURVE key pair: DIR/PEER_ID.key (mode 0600) and DIR/PEER_ID.pub; prints the public key\n"
     "(docs/security.md).\n"},
};

constexpr const char* kExitCodes =
    "exit codes (README.md, docs/training.md):\n"
    "  0         done: trained to the end, or the command did what it was asked\n"
    "  1         any other failure: a bad data file, a peer that never came, a run\n"
    "            that diverged, ...\n"
    "  2         a user mistake, named in the message: a bad config or argument, keys\n"
    "            that differ from the cluster's, a file that is not a checkpoint (or a\n"
    "            directory), a checkpoint of another config\n"
    "  3         run: finished in a minority view (cut off from the others, or the\n"
    "            last peer standing): its final checkpoint is a minority's model\n"
    "            (event minority_finish, docs/faults.md)\n"
    "  130, 143  stopped by SIGINT or SIGTERM (128 + the signal), after a checkpoint of\n"
    "            what it had trained\n";

const CommandHelp* FindCommand(const std::string& verb) {
  for (const CommandHelp& c : kCommands) {
    if (verb == c.verb) return &c;
  }
  return nullptr;
}

std::string CommandNames() {
  std::string names;
  const size_t n = std::size(kCommands);
  for (size_t i = 0; i < n; ++i) names += std::string(i == 0 ? "" : i + 1 == n ? " or " : ", ") + kCommands[i].verb;
  return names;
}

}  // namespace

std::string UsageText() {
  std::string text = "usage:\n";
  for (const CommandHelp& c : kCommands) text += "  " + std::string(c.synopsis) + "\n";
  text += "  meshtrain COMMAND --help        (what COMMAND does and its options)\n";
  text += "  meshtrain --help | --version\n";
  return text + kExitCodes;
}

std::string CommandUsageText(const std::string& verb) {
  const CommandHelp* c = FindCommand(verb);
  if (!c) return UsageText();
  return "usage: " + std::string(c->synopsis) + "\n" + c->details + kExitCodes;
}

Result<Command> ParseCommandLine(const std::vector<std::string>& args) {
  Command cmd;
  if (args.empty()) return Status::InvalidArgument("missing command (" + CommandNames() + ")");
  cmd.verb = args[0];
  if (cmd.verb == "--help" || cmd.verb == "-h" || cmd.verb == "help") {
    cmd.verb = "help";
    return cmd;
  }
  if (cmd.verb == "--version" || cmd.verb == "version") {
    cmd.verb = "version";
    return cmd;
  }
  if (!FindCommand(cmd.verb)) {
    return Status::InvalidArgument("unknown command '" + cmd.verb + "' (expected " + CommandNames() + ")");
  }
  // `meshtrain COMMAND --help` anywhere on the line: its usage, nothing else done.
  if (std::find_if(args.begin() + 1, args.end(), [](const std::string& a) { return a == "--help" || a == "-h"; }) !=
      args.end()) {
    cmd.help = true;
    return cmd;
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
    } else if (key == "--http" && cmd.verb == "watch") {
      MESHTRAIN_RETURN_IF_ERROR(value(&cmd.watch_http));
      if (std::string why = config_internal::ListenAddressProblem(cmd.watch_http); !why.empty()) {
        return Status::InvalidArgument("--http " + cmd.watch_http + ": " + why);
      }
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
