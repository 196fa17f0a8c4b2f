// Unit tests of the pure parts of sync: .cofferignore matching and conflict names. The merge
// itself is tested end to end against a real server (tests/e2e/sync_test.cc).
#include "client/sync.h"

#include <gtest/gtest.h>

namespace coffer::client {
namespace {

IgnoreRules Rules(std::string_view text) {
  auto rules = IgnoreRules::Parse(text);
  EXPECT_TRUE(rules.ok()) << rules.status().message();
  return *rules;
}

TEST(IgnoreRules, BasenamePatternsMatchAtAnyDepth) {
  IgnoreRules r = Rules("*.tmp\n# a comment\n\n.DS_Store\n");
  EXPECT_TRUE(r.Ignored("a.tmp", false));
  EXPECT_TRUE(r.Ignored("x/y/z.tmp", false));
  EXPECT_TRUE(r.Ignored("deep/.DS_Store", false));
  EXPECT_FALSE(r.Ignored("a.tmpx", false));
  EXPECT_FALSE(r.Ignored("tmp", false));
}

TEST(IgnoreRules, SlashAnchorsAtTheRoot) {
  IgnoreRules r = Rules("/top.txt\ndocs/*.pdf\n");
  EXPECT_TRUE(r.Ignored("top.txt", false));
  EXPECT_FALSE(r.Ignored("sub/top.txt", false));
  EXPECT_TRUE(r.Ignored("docs/a.pdf", false));
  EXPECT_FALSE(r.Ignored("x/docs/a.pdf", false));
  EXPECT_FALSE(r.Ignored("docs/sub/a.pdf", false));  // * does not cross '/'
}

TEST(IgnoreRules, FolderPatternsCoverTheirContentsOnly) {
  IgnoreRules r = Rules("build/\n");
  EXPECT_TRUE(r.Ignored("build", true));
  EXPECT_TRUE(r.Ignored("build/out.o", false));
  EXPECT_TRUE(r.Ignored("src/build/x", false));
  EXPECT_FALSE(r.Ignored("build", false));  // a file called build is not a folder
}

TEST(IgnoreRules, DoubleStarAndNegation) {
  IgnoreRules r = Rules("logs/**/*.log\n*.log\n!keep.log\n");
  EXPECT_TRUE(r.Ignored("logs/a.log", false));
  EXPECT_TRUE(r.Ignored("logs/x/y/a.log", false));
  EXPECT_TRUE(r.Ignored("other.log", false));
  EXPECT_FALSE(r.Ignored("keep.log", false));
  EXPECT_FALSE(r.Ignored("dir/keep.log", false));
}

TEST(IgnoreRules, CharacterClassesAndEscapes) {
  IgnoreRules r = Rules("file[0-9].txt\nx[!a].md\n\\#literal\na+b(c).txt\n");
  EXPECT_TRUE(r.Ignored("file7.txt", false));
  EXPECT_FALSE(r.Ignored("fileA.txt", false));
  EXPECT_TRUE(r.Ignored("xb.md", false));
  EXPECT_FALSE(r.Ignored("xa.md", false));
  EXPECT_TRUE(r.Ignored("#literal", false));
  EXPECT_TRUE(r.Ignored("a+b(c).txt", false));  // regex metacharacters are literal
  EXPECT_FALSE(r.Ignored("aab(c).txt", false));
}

TEST(IgnoreRules, EmptyAndHostileInputAreSafe) {
  EXPECT_FALSE(Rules("").Ignored("anything", false));
  EXPECT_FALSE(Rules("\n\n#\n   \n").Ignored("a", false));
  // Unbalanced brackets are taken literally instead of failing the whole file.
  EXPECT_TRUE(Rules("[abc\n").Ignored("[abc", false));
  std::string many;
  for (int i = 0; i < 10001; ++i) many += "p" + std::to_string(i) + "\n";
  EXPECT_FALSE(IgnoreRules::Parse(many).ok());
}

TEST(ConflictName, KeepsTheExtensionAndNamesDeviceAndTime) {
  const int64_t t = 1795500000;  // fixed instant; the text uses local time
  const std::string n = ConflictName("report.final.docx", "laptop", t, 1);
  EXPECT_TRUE(n.starts_with("report.final (conflict from laptop ")) << n;
  EXPECT_TRUE(n.ends_with(").docx")) << n;
  EXPECT_NE(ConflictName("report.docx", "laptop", t, 2), ConflictName("report.docx", "laptop", t, 1));
  EXPECT_TRUE(ConflictName(".bashrc", "pc", t, 1).starts_with(".bashrc (conflict from pc "));
  EXPECT_TRUE(ConflictName("Makefile", "pc", t, 1).ends_with(")"));
  // A '/' in a device name cannot turn the copy into a path.
  EXPECT_EQ(ConflictName("a.txt", "my/phone", t, 1).find('/'), std::string::npos);
  // Long names are shortened to stay a valid name.
  EXPECT_TRUE(ValidateName(ConflictName(std::string(1020, 'x') + ".txt", "pc", t, 1)).ok());
}

}  // namespace
}  // namespace coffer::client
