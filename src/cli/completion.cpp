// aero completion bash: a bash completion script generated from the CLI11 definitions, so it
// always knows the subcommands and options of the binary that printed it. Hidden from --help;
// installed to share/bash-completion/completions/aero.
#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.h"

namespace aero::cli {

namespace {

struct Node {
  std::string path;  // "aero tokenizer train"
  std::vector<std::string> subcommands, options, valued;
  bool positionals = false;
};

// Subcommands in a group named "" are hidden, as in --help.
std::vector<const CLI::App*> visible_subcommands(const CLI::App& app) {
  return app.get_subcommands([](const CLI::App* s) { return !s->get_group().empty(); });
}

void collect(const CLI::App& app, const std::string& path, std::vector<Node>& out) {
  Node n{path, {}, {}, {}, false};
  for (const CLI::App* s : visible_subcommands(app)) n.subcommands.push_back(s->get_name());
  for (const CLI::Option* o : app.get_options()) {
    if (o->get_positional() && !o->nonpositional()) {
      n.positionals = true;
      continue;
    }
    if (o->get_group().empty()) continue;
    std::vector<std::string> names;
    for (const std::string& s : o->get_snames()) names.push_back("-" + s);
    for (const std::string& l : o->get_lnames()) names.push_back("--" + l);
    for (const std::string& name : names) {
      n.options.push_back(name);
      if (o->get_items_expected_max() > 0) n.valued.push_back(name);
    }
  }
  out.push_back(n);
  for (const CLI::App* s : visible_subcommands(app)) collect(*s, path + " " + s->get_name(), out);
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : " ") + x;
  return s;
}

std::string bash_script(const CLI::App& root) {
  std::vector<Node> nodes;
  collect(root, "aero", nodes);
  std::string s =
      "# bash completion for aero, written by `aero completion bash` from its CLI definitions.\n"
      "_aero() {\n"
      "  local cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n"
      "  local path=aero i\n"
      "  # The subcommand path typed so far: words that name a subcommand of the path before.\n"
      "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
      "    case \"$path ${COMP_WORDS[i]}\" in\n";
  std::string paths;
  for (const Node& n : nodes)
    if (n.path != "aero") paths += (paths.empty() ? "" : "|") + ("\"" + n.path + "\"");
  if (!paths.empty()) s += "      " + paths + ") path=\"$path ${COMP_WORDS[i]}\" ;;\n";
  s += "    esac\n"
       "  done\n"
       "  local subs='' opts='' valued='' files=0\n"
       "  case \"$path\" in\n";
  for (const Node& n : nodes)
    s += "    \"" + n.path + "\") subs='" + join(n.subcommands) + "'; opts='" + join(n.options) +
         "'; valued='" + join(n.valued) + "'; files=" + (n.positionals ? "1" : "0") + " ;;\n";
  s += "  esac\n"
       "  # After an option that takes a value: file names (complete -o default).\n"
       "  if [[ \" $valued \" == *\" $prev \"* ]]; then COMPREPLY=(); return; fi\n"
       "  if [[ $cur == -* ]]; then\n"
       "    COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n"
       "  else\n"
       "    COMPREPLY=($(compgen -W \"$subs\" -- \"$cur\"))\n"
       "    if [[ $files == 1 ]]; then COMPREPLY+=($(compgen -f -- \"$cur\")); fi\n"
       "  fi\n"
       "}\n"
       "complete -o default -F _aero aero\n";
  return s;
}

}  // namespace

void add_completion(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("completion", "Print a shell completion script");
  cmd->group("");  // hidden: it is for packagers and shell setup, not daily use
  auto shell = std::make_shared<std::string>();
  cmd->add_option("shell", *shell, "Shell: bash")->required()->check(CLI::IsMember({"bash"}));
  CLI::App* root = &app;
  cmd->callback([root, shell] { std::fputs(bash_script(*root).c_str(), stdout); });
}

}  // namespace aero::cli
