#include <gtest/gtest.h>

#include "core/config.h"
#include "op_test.h"

using namespace aero;
using aero::test::error_of;

namespace {

struct Demo {
  int n_layer = 3;
  float lr = 1e-3f;
  bool bias = true;
  std::string pos = "rope";
};

const FieldTable<Demo>& demo_fields() {
  static FieldTable<Demo> t = [] {
    FieldTable<Demo> f("model");
    f.add("n_layer", &Demo::n_layer, "number of blocks")
        .add("lr", &Demo::lr, "learning rate")
        .add("bias", &Demo::bias, "biases in linear layers")
        .add("pos", &Demo::pos, "position encoding", {"learned", "rope"});
    return f;
  }();
  return t;
}

}  // namespace

TEST(config, json_round_trip_and_overrides) {
  Demo d;
  demo_fields().from_json(d, nlohmann::json::parse(R"({"n_layer": 12, "pos": "learned"})"));
  EXPECT_EQ(d.n_layer, 12);
  EXPECT_EQ(d.pos, "learned");
  EXPECT_FLOAT_EQ(d.lr, 1e-3f);  // untouched keys keep their defaults
  demo_fields().set_from_string(d, "lr", "3e-4");
  demo_fields().set_from_string(d, "bias", "false");
  EXPECT_FLOAT_EQ(d.lr, 3e-4f);
  EXPECT_FALSE(d.bias);
  Demo e;
  demo_fields().from_json(e, demo_fields().to_json(d));
  EXPECT_EQ(demo_fields().to_json(e), demo_fields().to_json(d));
}

TEST(config, errors_name_the_key) {
  Demo d;
  EXPECT_NE(error_of([&] {
              demo_fields().set_from_string(d, "n_layers", "2");
            }).find("unknown key 'n_layers' in model (known: n_layer, lr, bias, pos)"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              demo_fields().set_from_string(d, "n_layer", "2.5");
            }).find("model.n_layer: expected an integer, got 2.5"),
            std::string::npos);
  EXPECT_NE(error_of([&] { demo_fields().set_from_string(d, "bias", "yes"); }).find("model.bias"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              demo_fields().set_from_string(d, "pos", "alibi");
            }).find("model.pos: 'alibi' is not one of: learned, rope"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              demo_fields().from_json(d, nlohmann::json::parse(R"({"lr": "fast"})"));
            }).find("model.lr: expected a number"),
            std::string::npos);
  EXPECT_NE(demo_fields().help().find("n_layer (int, default 3)"), std::string::npos);
}
