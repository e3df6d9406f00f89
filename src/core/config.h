// One field table per config struct drives everything a config needs: loading from JSON,
// `--set key=value` overrides, `--help` text, printing, and the copy saved in checkpoints.
// Unknown keys, wrong types and values outside a field's choices are errors naming the key.
#pragma once
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <initializer_list>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/error.h"

namespace aero {

// The shortest decimal that reads back as v: 1e-3f -> 0.001 (not 0.0010000000474974513), so
// configs and help print what the user wrote.
inline double shortest_decimal(float v) {
  for (int digits = 1; digits < 9; digits++) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.*g", digits, double(v));
    if (std::strtof(buf, nullptr) == v) return std::strtod(buf, nullptr);
  }
  return double(v);
}

// The names of an enum's values, in one place: configs, the CLI and file headers parse and print
// through it, so code compares enums and never strings.
//   const EnumNames<Act> kActNames{{Act::gelu, "gelu"}, {Act::relu, "relu"}};
template <typename E>
class EnumNames {
 public:
  EnumNames(std::initializer_list<std::pair<E, const char*>> items) : items_(items) {}
  const char* name(E e) const {
    for (const auto& [v, n] : items_)
      if (v == e) return n;
    return "?";
  }
  // The value named s; `where` prefixes the error, which lists the accepted names.
  E parse(const std::string& s, const std::string& where) const {
    for (const auto& [v, n] : items_)
      if (s == n) return v;
    fail(where, ": '", s, "' is not one of: ", list());
  }
  std::vector<std::string> names() const {
    std::vector<std::string> r;
    for (const auto& [v, n] : items_) r.push_back(n);
    return r;
  }
  std::string list() const {
    std::string r;
    for (const auto& [v, n] : items_) r += (r.empty() ? "" : ", ") + std::string(n);
    return r;
  }

 private:
  std::vector<std::pair<E, const char*>> items_;
};

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
    return add_ref<T>(
        key, help, std::move(choices), [member](auto& c) -> auto& { return c.*member; });
  }
  // A field of a struct inside the config: add("lr", &TrainConfig::optim, &OptimConfig::lr, ..)
  template <typename S, typename T>
  FieldTable& add(const std::string& key, S Config::*outer, T S::*inner, const std::string& help,
                  std::vector<std::string> choices = {}) {
    return add_ref<T>(
        key, help, std::move(choices),
        [ outer, inner ](auto& c) -> auto& { return (c.*outer).*inner; });
  }
  // An enum field, read and written as its name: add("act", &C::act, "activation", act_names()).
  template <typename E>
  requires std::is_enum_v<E> FieldTable& add(const std::string& key, E Config::*member,
                                             const std::string& help, const EnumNames<E>& names) {
    return add_enum<E>(
        key, help, names, [member](auto& c) -> auto& { return c.*member; });
  }
  template <typename S, typename E>
  requires std::is_enum_v<E> FieldTable& add(const std::string& key, S Config::*outer, E S::*inner,
                                             const std::string& help, const EnumNames<E>& names) {
    return add_enum<E>(
        key, help, names, [ outer, inner ](auto& c) -> auto& { return (c.*outer).*inner; });
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

  // `ref` gives the field's storage in a Config (const or not).
  template <typename T, typename Ref>
  FieldTable& add_ref(const std::string& key, const std::string& help,
                      std::vector<std::string> choices, Ref ref) {
    Field f;
    f.key = key;
    f.help = help;
    f.type = type_name<T>();
    f.choices = choices;
    std::string where = name_ + "." + key;
    f.set = [ref, where, choices](Config& c, const nlohmann::json& v) {
      T& field = ref(c);
      field = convert<T>(where, v);
      if constexpr (std::is_same_v<T, std::string>) {
        if (!choices.empty()) {
          bool ok = false;
          for (auto& ch : choices) ok |= ch == field;
          std::string list;
          for (auto& ch : choices) list += (list.empty() ? "" : ", ") + ch;
          AERO_CHECK(ok, "[config] ", where, ": '", field, "' is not one of: ", list);
        }
      }
    };
    f.get = [ref](const Config& c) {
      if constexpr (std::is_floating_point_v<T>)
        return nlohmann::json(shortest_decimal(float(ref(c))));
      else
        return nlohmann::json(ref(c));
    };
    fields_.push_back(std::move(f));
    return *this;
  }

  template <typename E, typename Ref>
  FieldTable& add_enum(const std::string& key, const std::string& help, const EnumNames<E>& names,
                       Ref ref) {
    Field f;
    f.key = key;
    f.help = help;
    f.type = "string";
    f.choices = names.names();
    const std::string where = "[config] " + name_ + "." + key;
    f.set = [ref, where, names](Config& c, const nlohmann::json& v) {
      AERO_CHECK(v.is_string(), where, ": expected a string, got ", v.dump());
      ref(c) = names.parse(v.get<std::string>(), where);
    };
    f.get = [ref, names](const Config& c) { return nlohmann::json(names.name(ref(c))); };
    fields_.push_back(std::move(f));
    return *this;
  }

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
      // Checked against T's range before any cast: 1e60 or 2^40 for an int is an error, not a
      // wrapped value or an undefined float-to-int cast.
      using L = std::numeric_limits<T>;
      const auto out_of_range = [&] {
        fail("[config] ", where, ": ", v.dump(), " is out of range (", +L::min(), " to ", +L::max(),
             ")");
      };
      if (v.is_number_unsigned()) {
        if (v.get<uint64_t>() > uint64_t(L::max())) out_of_range();
        return T(v.get<uint64_t>());
      }
      if (v.is_number_integer()) {  // negative
        if (!L::is_signed || v.get<int64_t>() < int64_t(L::min())) out_of_range();
        return T(v.get<int64_t>());
      }
      const double d = v.is_number_float() ? v.get<double>() : 0.5;
      AERO_CHECK(d == std::trunc(d), "[config] ", where, ": expected an integer, got ", v.dump());
      if (!(d >= double(L::min()) && d < double(L::max()) + 1.0)) out_of_range();
      return static_cast<T>(d);
    } else if constexpr (std::is_floating_point_v<T>) {
      AERO_CHECK(v.is_number(), "[config] ", where, ": expected a number, got ", v.dump());
      return v.get<T>();
    } else if constexpr (std::is_same_v<T, std::string>) {
      AERO_CHECK(v.is_string(), "[config] ", where, ": expected a string, got ", v.dump());
      return v.get<std::string>();
    } else if constexpr (IsVector<T>::value) {
      // Element by element, each checked as a field of its own type: nlohmann's own conversion
      // casts 1e30 to int with undefined behaviour.
      AERO_CHECK(v.is_array(), "[config] ", where, ": expected a list, got ", v.dump());
      T out;
      for (size_t i = 0; i < v.size(); i++)
        out.push_back(convert<typename T::value_type>(where + "[" + std::to_string(i) + "]", v[i]));
      return out;
    } else {
      try {
        return v.get<T>();
      } catch (const nlohmann::json::exception&) {
        fail("[config] ", where, ": wrong type, got ", v.dump());
      }
    }
  }

  template <typename U>
  struct IsVector : std::false_type {};
  template <typename U, typename A>
  struct IsVector<std::vector<U, A>> : std::true_type {};
};

}  // namespace aero
