// One field table per config struct drives everything a config needs: loading from JSON,
// `--set key=value` overrides, `--help` text, printing, and the copy saved in checkpoints.
// Unknown keys, wrong types and values outside a field's choices are errors naming the key.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>
#include <vector>

#include "core/error.h"

namespace aero {

template <typename Config>
class FieldTable {
 public:
  struct Field {
    std::string key, help, type;
    std::vector<std::string> choices;  // allowed values of a string field (empty: any)
    std::function<void(Config&, const nlohmann::json&)> set;
    std::function<nlohmann::json(const Config&)> get;
  };

  explicit FieldTable(std::string name) : name_(std::move(name)) {}

  // add("n_layer", &GptConfig::n_layer, "number of transformer blocks")
  template <typename T>
  FieldTable& add(const std::string& key, T Config::*member, const std::string& help,
                  std::vector<std::string> choices = {}) {
    Field f;
    f.key = key;
    f.help = help;
    f.type = type_name<T>();
    f.choices = choices;
    std::string where = name_ + "." + key;
    f.set = [member, where, choices](Config& c, const nlohmann::json& v) {
      c.*member = convert<T>(where, v);
      if constexpr (std::is_same_v<T, std::string>) {
        if (!choices.empty()) {
          bool ok = false;
          for (auto& ch : choices) ok |= ch == c.*member;
          std::string list;
          for (auto& ch : choices) list += (list.empty() ? "" : ", ") + ch;
          AERO_CHECK(ok, "[config] ", where, ": '", c.*member, "' is not one of: ", list);
        }
      }
    };
    f.get = [member](const Config& c) { return nlohmann::json(c.*member); };
    fields_.push_back(std::move(f));
    return *this;
  }

  const std::vector<Field>& fields() const { return fields_; }
  const std::string& name() const { return name_; }

  const Field& find(const std::string& key) const {
    for (auto& f : fields_)
      if (f.key == key) return f;
    std::string known;
    for (auto& f : fields_) known += (known.empty() ? "" : ", ") + f.key;
    fail("[config] unknown key '", key, "' in ", name_, " (known: ", known, ")");
  }

  // Every key of `j` must be known; keys not in `j` keep their current values.
  void from_json(Config& c, const nlohmann::json& j) const {
    AERO_CHECK(j.is_object(), "[config] ", name_, " must be a JSON object");
    for (auto it = j.begin(); it != j.end(); ++it) find(it.key()).set(c, it.value());
  }

  nlohmann::json to_json(const Config& c) const {
    nlohmann::json j = nlohmann::json::object();
    for (auto& f : fields_) j[f.key] = f.get(c);
    return j;
  }

  // "key=value" from the command line: the value is parsed by the field's type.
  void set_from_string(Config& c, const std::string& key, const std::string& value) const {
    const Field& f = find(key);
    nlohmann::json v;
    if (f.type == "string") {
      v = value;
    } else {
      try {
        v = nlohmann::json::parse(value);
      } catch (const nlohmann::json::exception&) {
        fail("[config] ", name_, ".", key, ": '", value, "' is not a valid ", f.type);
      }
    }
    f.set(c, v);
  }

  std::string help() const {
    std::string s;
    Config defaults{};
    for (auto& f : fields_) {
      s += "  " + f.key + " (" + f.type + ", default " + f.get(defaults).dump() + ")";
      if (!f.choices.empty()) {
        s += " one of:";
        for (auto& ch : f.choices) s += " " + ch;
      }
      s += "\n      " + f.help + "\n";
    }
    return s;
  }

 private:
  std::string name_;
  std::vector<Field> fields_;

  template <typename T>
  static std::string type_name() {
    if constexpr (std::is_same_v<T, bool>)
      return "bool";
    else if constexpr (std::is_integral_v<T>)
      return "int";
    else if constexpr (std::is_floating_point_v<T>)
      return "float";
    else if constexpr (std::is_same_v<T, std::string>)
      return "string";
    else
      return "list";
  }

  template <typename T>
  static T convert(const std::string& where, const nlohmann::json& v) {
    if constexpr (std::is_same_v<T, bool>) {
      AERO_CHECK(v.is_boolean(), "[config] ", where, ": expected true or false, got ", v.dump());
      return v.get<bool>();
    } else if constexpr (std::is_integral_v<T>) {
      if (v.is_number_integer()) return v.get<T>();
      bool whole = v.is_number_float() && v.get<double>() == double(int64_t(v.get<double>()));
      AERO_CHECK(whole, "[config] ", where, ": expected an integer, got ", v.dump());
      return static_cast<T>(v.get<double>());
    } else if constexpr (std::is_floating_point_v<T>) {
      AERO_CHECK(v.is_number(), "[config] ", where, ": expected a number, got ", v.dump());
      return v.get<T>();
    } else if constexpr (std::is_same_v<T, std::string>) {
      AERO_CHECK(v.is_string(), "[config] ", where, ": expected a string, got ", v.dump());
      return v.get<std::string>();
    } else {
      try {
        return v.get<T>();
      } catch (const nlohmann::json::exception&) {
        fail("[config] ", where, ": wrong type, got ", v.dump());
      }
    }
  }
};

}  // namespace aero
