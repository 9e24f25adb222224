#include "config/toml_file.hpp"

#include "config/args_impl.hpp"
#include "config/text_file.hpp"


namespace cohort::config {

Args parse_toml(std::string_view text, const std::string& file) {
  std::shared_ptr<toml::table> document;
  try {
    document = std::make_shared<toml::table>(toml::parse(text, std::string_view(file)));
  } catch (const toml::parse_error& e) {
    const auto& src = e.source();
    throw ConfigError(SourceLocation{file, static_cast<int>(src.begin.line), static_cast<int>(src.begin.column)},
                      "TOML syntax error: " + std::string(e.description()));
  }
  const toml::table* root = document.get();
  return make_args(std::move(document), root, file, "", SourceLocation{file, 1, 1});
}

Args read_toml_file(const std::filesystem::path& file) { return parse_toml(read_text_file(file), file.string()); }

}  // namespace cohort::config
