#pragma once
/// @file args.hpp
/// Typed access to a plugin's `[controller.args]`, `[executor.args]` or `[[hooks]]` table.
///
/// A plugin reads every key it understands once, at load, into its own config struct,
/// then calls finish(): keys it never asked for are reported as unknown, with a
/// "did you mean" when one is close. Every error names `file:line:col`. Plugins never
/// see raw TOML.

#include <cohort/error.hpp>
#include <cohort/export.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cohort {

/// Inclusive bounds for a numeric argument (applies to each element of a list).
struct Range {
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
};

/// Range [v, +inf).
inline Range at_least(double v) { return Range{v, std::numeric_limits<double>::infinity()}; }
/// Range [lo, hi].
inline Range between(double lo, double hi) { return Range{lo, hi}; }

/// A file a recipe names through Args::file(): it travels with the job when it is
/// submitted, when its path is relative.
struct NamedFile {
  /// Absolute, normalized.
  std::filesystem::path path;
  /// The rest of its folder (and below) travels with it: a script's helpers.
  bool with_folder = false;
  /// Where the recipe names it.
  SourceLocation where;
};

/// One TOML table of arguments, with source positions and bookkeeping of which keys
/// were read. Copies share the bookkeeping.
///
/// Supported value types: bool, int, std::int64_t, double (integers are accepted),
/// std::string, std::vector<std::string>, std::vector<double>, std::vector<std::int64_t>,
/// std::map<std::string, double> (a table of numbers).
class COHORT_API Args {
 public:
  /// An empty table (the recipe has none); `where` says where it would be.
  explicit Args(SourceLocation where = {}, std::string path = {});
  ~Args();
  Args(const Args&);
  Args& operator=(const Args&);

  /// Dotted path of this table in the file, e.g. "controller.args".
  const std::string& path() const;
  /// True when `key` is present (marks it as known).
  bool has(std::string_view key) const;

  /// The value of `key`, or `fallback` when absent. Throws ConfigError on a wrong type
  /// or a value outside `range`.
  template <class T>
  T get(std::string_view key, T fallback, Range range = {}) const;
  /// The value of `key`; throws ConfigError when it is absent.
  template <class T>
  T required(std::string_view key, Range range = {}) const;
  /// The value of `key`, or nothing when absent.
  template <class T>
  std::optional<T> optional(std::string_view key, Range range = {}) const;

  /// The value of `key`, which must be one of `choices` (`fallback` when absent). The
  /// error lists the choices.
  std::string choice(std::string_view key, std::string_view fallback,
                     std::initializer_list<std::string_view> choices) const;
  /// A duration given in seconds (fractions allowed), or `fallback` when absent.
  std::chrono::milliseconds seconds(std::string_view key, std::chrono::milliseconds fallback,
                                    Range range = at_least(0)) const;

  /// What file() carries along with the file.
  enum Carry { just_the_file, with_its_folder };
  /// The file named by `key`: a path relative to the recipe's folder, or absolute. A
  /// relative one travels with the job: `cohort job submit` sends it (and, with
  /// `with_its_folder`, every other file of its folder and below) and each site gets it
  /// in the job's folder before its first task; an absolute one must exist on every
  /// machine. Throws ConfigError when it is absent or not a file.
  std::filesystem::path file(std::string_view key, Carry carry = just_the_file) const;
  /// As file(), for a value that names a file and more (`python = "model.py:Network"`):
  /// the file at `path`, a part of `key`'s value; errors are located at `key`.
  std::filesystem::path file(std::string_view key, std::string_view path, Carry carry) const;
  /// The table `key` as a JSON object ("{}" when absent; ConfigError when not a table): for
  /// values handed on to another program (a Python class's keyword arguments).
  std::string json_table(std::string_view key) const;
  /// The relative files every table of this recipe named through file() so far.
  std::vector<NamedFile> named_files() const;

  /// The nested table `key` (an empty Args when absent; ConfigError when not a table).
  Args table(std::string_view key) const;
  /// The array of tables `key` (`[[key]]`), each at its own path "key[i]"; empty when
  /// absent, ConfigError when `key` is something else.
  std::vector<Args> tables(std::string_view key) const;

  /// Where `key` is (or the table itself when `key` is empty or absent).
  SourceLocation where(std::string_view key = {}) const;
  /// Throws ConfigError at `key`'s position: "<path>.<key>: <message>".
  [[noreturn]] void fail(std::string_view key, const std::string& message) const;
  /// Fails when `key` is present: it is reserved for someone else (`why` says whom).
  void reject(std::string_view key, const std::string& why) const;
  /// Fails on the first key that no accessor asked for, suggesting the closest known key.
  void finish() const;

  /// Every key read so far with its effective value as a TOML literal (defaults included),
  /// in the order they were read. Used to print a resolved recipe.
  std::vector<std::pair<std::string, std::string>> resolved() const;

  struct Impl;
  /// Internal: wraps a parsed table. Only the recipe loader creates these.
  explicit Args(std::shared_ptr<Impl> impl);

 private:
  std::shared_ptr<Impl> impl_;
};

using ArgsNumberTable = std::map<std::string, double>;

/// Calls X(T) for each value type Args reads: the one list of them.
#define COHORT_ARGS_VALUE_TYPES(X)                                                   \
  X(bool) X(int) X(std::int64_t) X(double) X(std::string) X(std::vector<std::string>) \
  X(std::vector<double>) X(std::vector<std::int64_t>) X(ArgsNumberTable)

// Instantiated once, in the config library.
#define COHORT_ARGS_EXTERN(T)                                                        \
  extern template T Args::get<T>(std::string_view, T, Range) const;                  \
  extern template T Args::required<T>(std::string_view, Range) const;                \
  extern template std::optional<T> Args::optional<T>(std::string_view, Range) const;
COHORT_ARGS_VALUE_TYPES(COHORT_ARGS_EXTERN)
#undef COHORT_ARGS_EXTERN

}  // namespace cohort
