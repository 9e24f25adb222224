#include "config/toml_file.hpp"

#include "config/args_impl.hpp"
#include "config/text_file.hpp"

#include <sstream>

namespace cohort::config {

namespace {

toml::table parse_document(std::string_view text, const std::string& file) {
  try {
    return toml::parse(text, std::string_view(file));
  } catch (const toml::parse_error& e) {
    const auto& src = e.source();
    throw ConfigError(SourceLocation{file, static_cast<int>(src.begin.line), static_cast<int>(src.begin.column)},
                      "TOML syntax error: " + std::string(e.description()));
  }
}

/// The override `KEY=VALUE` as a one-key document whose nodes say they come from it.
toml::table parse_override(const std::string& argument) {
  const std::string origin = "--set " + argument;
  const auto equals = argument.find('=');
  const auto trim = [](std::string s) {
    s.erase(0, s.find_first_not_of(" \t"));
    s.erase(s.find_last_not_of(" \t") + 1);
    return s;
  };
  const std::string key = trim(argument.substr(0, equals));
  if (equals == std::string::npos || key.empty())
    throw ConfigError(SourceLocation{origin, 0, 0}, "expected KEY=VALUE, e.g. controller.args.lr=0.1");
  const std::string value = trim(argument.substr(equals + 1));
  try {
    return toml::parse(key + " = " + value, std::string_view(origin));
  } catch (const toml::parse_error& as_value) {
    // Not a TOML value: a bare word is a string (`controller.plugin=fedopt`).
    std::string quoted;
    for (const char c : value) {
      if (c == '"' || c == '\\') quoted += '\\';
      quoted += c;
    }
    try {
      return toml::parse(key + " = \"" + quoted + "\"", std::string_view(origin));
    } catch (const toml::parse_error&) {
      throw ConfigError(SourceLocation{origin, 0, 0},
                        "'" + key + "' is not a TOML key (" + std::string(as_value.description()) + ")");
    }
  }
}

/// Moves every key of `from` into `into`; tables present in both merge key by key.
void merge(toml::table& into, toml::table&& from) {
  for (auto&& [key, node] : from) {
    const toml::key& name = key;  // a lambda may not capture a structured binding (C++17)
    toml::node* existing = into.get(name);
    if (existing && existing->is_table() && node.is_table()) {
      merge(*existing->as_table(), std::move(*node.as_table()));
      continue;
    }
    node.visit([&into, &name](auto&& concrete) { into.insert_or_assign(name, std::move(concrete)); });
  }
}

toml::table parse_with_overrides(std::string_view text, const std::string& file, const Overrides& overrides) {
  toml::table document = parse_document(text, file);
  for (const auto& o : overrides) merge(document, parse_override(o));
  return document;
}

}  // namespace

Args parse_toml(std::string_view text, const std::string& file, const Overrides& overrides) {
  return parse_toml_with_text(text, file, overrides).root;
}

TomlWithText parse_toml_with_text(std::string_view text, const std::string& file, const Overrides& overrides) {
  auto document = std::make_shared<toml::table>(parse_with_overrides(text, file, overrides));
  std::string applied(text);
  if (!overrides.empty()) {
    std::ostringstream out;
    out << "# " << file;
    for (const auto& o : overrides) out << " --set " << o;
    out << "\n" << toml::toml_formatter(*document) << "\n";
    applied = out.str();
  }
  const toml::table* root = document.get();
  return {make_args(std::move(document), root, file, "", SourceLocation{file, 1, 1}), std::move(applied)};
}

Args read_toml_file(const std::filesystem::path& file) { return parse_toml(read_text_file(file), file.string()); }


}  // namespace cohort::config
