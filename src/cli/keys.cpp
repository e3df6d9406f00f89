// aero keys add|list|revoke --store FILE: API keys of `aero serve`, stored hashed.
#include <cstdio>
#include <ctime>

#include "cli/commands.h"
#include "server/keys.h"

namespace aero::cli {

void add_keys(CLI::App& app) {
  auto store = std::make_shared<std::string>();
  auto name = std::make_shared<std::string>();
  auto id = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("keys", "Manage the API keys of `aero serve`");
  cmd->require_subcommand(1);

  auto* add = cmd->add_subcommand("add", "Create a key (printed once; only its hash is stored)");
  add->add_option("--store", *store, "Key store file")->required();
  add->add_option("--name", *name, "A label for the key (who or what uses it)");
  add->callback([store, name] {
    server::KeyFile f(*store);
    auto [rec, key] = f.add(*name);
    f.save();
    std::printf("%s\n", key.c_str());
    std::fprintf(stderr, "aero: created %s%s%s in %s; the key above is shown only once\n",
                 rec.id.c_str(), name->empty() ? "" : " for ", name->c_str(), store->c_str());
  });

  auto* list = cmd->add_subcommand("list", "List keys (ids, names, dates; never the keys)");
  list->add_option("--store", *store, "Key store file")->required();
  list->callback([store] {
    server::KeyFile f(*store);
    for (const auto& r : f.records()) {
      char when[32];
      std::time_t t = r.created;
      std::tm tm{};
      gmtime_r(&t, &tm);
      std::strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
      std::printf("%-14s %-8s %s UTC  %s\n", r.id.c_str(), r.revoked ? "revoked" : "active", when,
                  r.name.c_str());
    }
  });

  auto* revoke = cmd->add_subcommand("revoke", "Revoke a key by id (takes effect at once)");
  revoke->add_option("--store", *store, "Key store file")->required();
  revoke->add_option("id", *id, "Key id, as `aero keys list` shows it")->required();
  revoke->callback([store, id] {
    server::KeyFile f(*store);
    f.revoke(*id);
    f.save();
    std::fprintf(stderr, "aero: revoked %s\n", id->c_str());
  });
}

}  // namespace aero::cli
