// Parsing of meshtrain's command line into a Command; errors name the argument.
#pragma once

#include <string>
#include <vector>

#include "meshtrain/status.h"

namespace meshtrain {

struct Command {
  std::string verb;  // run | eval | inspect | peers | report | watch | keygen | help | version
  std::string config_path;
  std::string id;
  std::vector<std::string> overrides;  // --set section.key=value, in order
  bool resume = false;
  std::string checkpoint_path;  // eval --checkpoint, inspect PATH
  std::string run_dir;          // report DIR, watch DIR
  int watch_pid = 0;            // watch --pid: stop when this process is gone
  std::string watch_http;       // watch --http HOST:PORT: serve the status page there
  std::string keygen_dir;             // keygen --out DIR
  std::string keygen_name = "peer";   // keygen --name NAME (a peer id)
  bool help = false;                  // COMMAND --help: print its usage and do nothing else
};

Result<Command> ParseCommandLine(const std::vector<std::string>& args);
// Every command's usage line and the exit codes.
std::string UsageText();
// One command's usage, options and the exit codes (`meshtrain COMMAND --help`).
std::string CommandUsageText(const std::string& verb);

}  // namespace meshtrain
