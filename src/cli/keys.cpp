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
  const char* store_help = "Key store: a file, or a postgresql:// URL shared by replicas";
  add->add_option("--store", *store, store_help)->required();
  add->add_option("--name", *name, "A label for the key (who or what uses it)");
  add->callback([store, name] {
    auto [rec, key] = server::open_key_admin(*store)->create(*name);
    std::printf("%s\n", key.c_str());
    std::fprintf(stderr, "aero: created %s%s%s in %s; the key above is shown only once\n",
                 rec.id.c_str(), name->empty() ? "" : " for ", name->c_str(),
                 server::redact_url(*store).c_str());
  });

  auto* list = cmd->add_subcommand("list", "List keys (ids, names, dates; never the keys)");
  list->add_option("--store", *store, store_help)->required();
  list->callback([store] {
    for (const auto& r : server::open_key_admin(*store)->all()) {
      char when[32];
      std::time_t t = r.created;
      std::tm tm{};
      gmtime_r(&t, &tm);
      std::strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
      std::printf("%-14s %-8s %s UTC  %s\n", r.id.c_str(), r.revoked ? "revoked" : "active", when,
                  r.name.c_str());
    }
  });

  auto* revoke = cmd->add_subcommand(
      "revoke", "Revoke a key by id (effective at once; within a second on every replica)");
  revoke->add_option("--store", *store, store_help)->required();
  revoke->add_option("id", *id, "Key id, as `aero keys list` shows it")->required();
  revoke->callback([store, id] {
    server::open_key_admin(*store)->revoke_key(*id);
    std::fprintf(stderr, "aero: revoked %s\n", id->c_str());
  });
}

}  // namespace aero::cli
