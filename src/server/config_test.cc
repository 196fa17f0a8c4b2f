#include "server/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace coffer::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A config file in a fresh temporary directory, removed at the end of the test.
class ConfigFile {
 public:
  explicit ConfigFile(const std::string& text) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "coffer-config-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    path_ = (dir_ / "coffer-server.conf").string();
    std::ofstream(path_) << text;
  }
  ~ConfigFile() { std::filesystem::remove_all(dir_); }
  const std::string& path() const { return path_; }

 private:
  std::filesystem::path dir_;
  std::string path_;
};

TEST(ConfigTest, DefaultsNeedOnlyStorage) {
  auto config = LoadServerConfig({"--data", "/srv/coffer"}, {});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->listen, "127.0.0.1:8420");
  EXPECT_EQ(config->threads, 4);
  EXPECT_EQ(config->gc_grace, 3600);
  EXPECT_EQ(config->quota_bytes, 0u);
  EXPECT_FALSE(config->quiet);
  auto urls = ResolveEngineUrls(*config);
  ASSERT_TRUE(urls.ok());
  EXPECT_EQ(urls->meta_url, "sqlite:///srv/coffer/meta.sqlite");
  EXPECT_EQ(urls->blob_url, "file:///srv/coffer/blobs");
}

TEST(ConfigTest, NoStorageIsAnError) {
  auto config = LoadServerConfig({"--listen", "127.0.0.1:0"}, {});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr("no storage configured"));
}

TEST(ConfigTest, FileSetsEveryKey) {
  ConfigFile file(
      "# coffer-server configuration\n"
      "\n"
      "listen = 127.0.0.1:9000   # loopback\n"
      "threads=8\n"
      "metadata = \"postgresql://coffer@db.example:5432/coffer?schema=prod\"\n"
      "blobs = s3://bucket?endpoint=https://s3.example&region=eu-1\n"
      "metadata_password_file = /etc/coffer/pg-password\n"
      "tls_cert = /etc/coffer/cert.pem\n"
      "tls_key = /etc/coffer/key.pem\n"
      "log_key = /etc/coffer/staff-log.key\n"
      "quota_bytes = 1000000\n"
      "gc_grace = 60\n"
      "quiet = yes\n");
  auto config = LoadServerConfig({"--config", file.path()}, {});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->config_file, file.path());
  EXPECT_EQ(config->listen, "127.0.0.1:9000");
  EXPECT_EQ(config->threads, 8);
  EXPECT_EQ(config->meta_url, "postgresql://coffer@db.example:5432/coffer?schema=prod");
  EXPECT_EQ(config->blob_url, "s3://bucket?endpoint=https://s3.example&region=eu-1");
  EXPECT_EQ(config->tls_cert, "/etc/coffer/cert.pem");
  EXPECT_EQ(config->tls_key, "/etc/coffer/key.pem");
  EXPECT_EQ(config->log_key, "/etc/coffer/staff-log.key");
  EXPECT_EQ(config->quota_bytes, 1000000u);
  EXPECT_EQ(config->gc_grace, 60);
  EXPECT_TRUE(config->quiet);
  auto urls = ResolveEngineUrls(*config);
  ASSERT_TRUE(urls.ok()) << urls.status().ToString();
  EXPECT_EQ(urls->meta_url,
            "postgresql://coffer@db.example:5432/coffer?schema=prod&password_file=/etc/coffer/pg-password");
  EXPECT_EQ(urls->blob_url, config->blob_url);
}

TEST(ConfigTest, PrecedenceIsFlagsThenEnvironmentThenFile) {
  ConfigFile file("data = /from/file\nthreads = 2\nlisten = 127.0.0.1:1111\ngc_grace = 10\n");
  const Environment env = {{"COFFER_THREADS", "3"}, {"COFFER_LISTEN", "127.0.0.1:2222"}};
  auto config = LoadServerConfig({"--config", file.path(), "--listen=127.0.0.1:3333"}, env);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->data_dir, "/from/file");    // only the file says it
  EXPECT_EQ(config->gc_grace, 10);              // only the file says it
  EXPECT_EQ(config->threads, 3);                // environment beats file
  EXPECT_EQ(config->listen, "127.0.0.1:3333");  // flag beats both
}

TEST(ConfigTest, ConfigFileFromEnvironment) {
  ConfigFile file("data = /x\nquiet = true\n");
  auto config = LoadServerConfig({}, {{"COFFER_CONFIG", file.path()}, {"COFFER_QUIET", "false"}});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->data_dir, "/x");
  EXPECT_FALSE(config->quiet);
}

TEST(ConfigTest, OldFlagSpellingsStillWork) {
  auto config = LoadServerConfig({"--meta-url", "sqlite:///a/m.sqlite", "--blob-url", "file:///a/b", "--quiet"}, {});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->meta_url, "sqlite:///a/m.sqlite");
  EXPECT_EQ(config->blob_url, "file:///a/b");
  EXPECT_TRUE(config->quiet);
}

TEST(ConfigTest, UnknownKeyNamesFileAndLine) {
  ConfigFile file("data = /x\n\n# fine so far\nthread = 4\n");
  auto config = LoadServerConfig({"--config", file.path()}, {});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr(file.path() + ":4: unknown key \"thread\""));
  EXPECT_THAT(config.status().message(), HasSubstr("threads"));  // lists the known keys
}

TEST(ConfigTest, BadValueNamesFileAndLine) {
  ConfigFile file("data = /x\nthreads = many\n");
  auto config = LoadServerConfig({"--config", file.path()}, {});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr(file.path() + ":2: threads = \"many\""));
  EXPECT_THAT(config.status().message(), HasSubstr("from 1 to 256"));
}

TEST(ConfigTest, RejectsMalformedLines) {
  for (const std::string text : {"data /x\n", "data = /x\ndata = /y\n", "quiet = maybe\n", "listen = nowhere\n",
                                 "metadata = not-a-url\n", "gc_grace = -1\n", "data = \"/x\n", "data =\n"}) {
    ConfigFile file(text);
    auto config = LoadServerConfig({"--config", file.path()}, {});
    ASSERT_FALSE(config.ok()) << text;
    EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(config.status().message(), HasSubstr(file.path() + ":")) << text;
  }
}

TEST(ConfigTest, BadEnvironmentValueNamesTheVariable) {
  auto config = LoadServerConfig({"--data", "/x"}, {{"COFFER_GC_GRACE", "soon"}});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("environment variable COFFER_GC_GRACE"));
}

TEST(ConfigTest, MissingConfigFileIsAClearError) {
  auto config = LoadServerConfig({"--config", "/nonexistent/coffer.conf"}, {});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(config.status().message(), HasSubstr("/nonexistent/coffer.conf"));
}

TEST(ConfigTest, UnknownFlagAndTlsPairing) {
  EXPECT_THAT(LoadServerConfig({"--data", "/x", "--bogus"}, {}).status().message(), HasSubstr("--bogus"));
  EXPECT_THAT(LoadServerConfig({"--data", "/x", "--tls-cert", "c.pem"}, {}).status().message(),
              HasSubstr("tls_cert and tls_key go together"));
  EXPECT_THAT(LoadServerConfig({"--data"}, {}).status().message(), HasSubstr("--data needs a value"));
  auto help = LoadServerConfig({"--help"}, {});
  ASSERT_TRUE(help.ok());
  EXPECT_TRUE(help->help);
}

TEST(ConfigTest, BadUrlErrorDoesNotShowThePassword) {
  ConfigFile file("data = /x\nmetadata = postgresql//coffer:hunter2secret@db/coffer\n");
  auto config = LoadServerConfig({"--config", file.path()}, {});
  ASSERT_FALSE(config.ok());
  // Not a URL (no "://"), so RedactUrl cannot find the user-info: the value is not echoed.
  EXPECT_THAT(config.status().message(), Not(HasSubstr("hunter2secret")));
  EXPECT_THAT(config.status().message(), HasSubstr(file.path() + ":2: metadata"));
  ConfigFile file2("data = /x\nmetadata = postgresql://coffer:hunter2secret@db/coffer\nthreads = 0\n");
  auto config2 = LoadServerConfig({"--config", file2.path()}, {});
  ASSERT_FALSE(config2.ok());
  EXPECT_THAT(config2.status().message(), Not(HasSubstr("hunter2secret")));
}

TEST(ConfigTest, CredentialFilesOnlyForEnginesThatTakeThem) {
  ServerConfig config;
  config.meta_url = "sqlite:///a/meta.sqlite";
  config.blob_url = "file:///a/blobs";
  config.metadata_password_file = "/etc/pw";
  EXPECT_THAT(ResolveEngineUrls(config).status().message(), HasSubstr("metadata_password_file is for a postgresql"));
  config.metadata_password_file.clear();
  config.blobs_credentials_file = "/etc/s3";
  EXPECT_THAT(ResolveEngineUrls(config).status().message(), HasSubstr("blobs_credentials_file is for an s3"));
  config.blob_url = "s3://b?endpoint=http://127.0.0.1:9000";
  auto urls = ResolveEngineUrls(config);
  ASSERT_TRUE(urls.ok()) << urls.status().ToString();
  EXPECT_EQ(urls->blob_url, "s3://b?endpoint=http://127.0.0.1:9000&credentials_file=/etc/s3");
}

TEST(RedactUrlTest, HidesUserInfoPassword) {
  EXPECT_EQ(RedactUrl("postgresql://coffer:s3cr3t@127.0.0.1:5432/coffer"),
            "postgresql://coffer:REDACTED@127.0.0.1:5432/coffer");
  // A password with '@' and ':' in it (not percent-encoded): the last '@' ends the user-info.
  EXPECT_EQ(RedactUrl("postgresql://u:p@ss:w@rd@h/db?schema=x"), "postgresql://u:REDACTED@h/db?schema=x");
  EXPECT_EQ(RedactUrl("postgresql://u:@h/db"), "postgresql://u:REDACTED@h/db");
}

TEST(RedactUrlTest, HidesSecretQueryParameters) {
  EXPECT_EQ(RedactUrl("s3://bucket?endpoint=http://127.0.0.1:7480&region=us-east-1&secret_key=abc&access_key=AK"),
            "s3://bucket?endpoint=http://127.0.0.1:7480&region=us-east-1&secret_key=REDACTED&access_key=REDACTED");
  EXPECT_EQ(RedactUrl("postgresql://h/db?password=pw&sslmode=require&sslpassword=x#frag"),
            "postgresql://h/db?password=REDACTED&sslmode=require&sslpassword=REDACTED#frag");
  EXPECT_EQ(RedactUrl("s3://b?X-Amz-Signature=sig&X-Amz-Credential=cred&session_token=t"),
            "s3://b?X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED&session_token=REDACTED");
}

TEST(RedactUrlTest, LeavesEverythingElse) {
  for (const std::string url :
       {"sqlite:///srv/coffer/meta.sqlite", "file:///srv/coffer/blobs", "postgresql://coffer@db/coffer?schema=a_b",
        "postgresql://db/coffer?password_file=/etc/pw", "s3://bucket?endpoint=https://s3.example&region=eu",
        "s3://bucket?credentials_file=/etc/coffer/s3", "not a url at all", "", "x://"}) {
    EXPECT_EQ(RedactUrl(url), url);
  }
}

TEST(RedactUrlTest, ScrubSecretsRemovesEchoedSecrets) {
  const std::string url = "postgresql://coffer:pw-9f8e7d@127.0.0.1:1/coffer?sslpassword=ssl-42";
  std::string message =
      "connection to server failed: password authentication failed for user coffer (pw-9f8e7d); "
      "ssl-42; AWS secret awsSECRET123";
  std::string scrubbed = ScrubSecrets(message, url, EnvironmentSecrets({{"AWS_SECRET_ACCESS_KEY", "awsSECRET123"},
                                                                        {"AWS_ACCESS_KEY_ID", "AKIAPUBLIC"}}));
  EXPECT_THAT(scrubbed, Not(HasSubstr("pw-9f8e7d")));
  EXPECT_THAT(scrubbed, Not(HasSubstr("ssl-42")));
  EXPECT_THAT(scrubbed, Not(HasSubstr("awsSECRET123")));
  EXPECT_THAT(scrubbed, HasSubstr("password authentication failed for user coffer (REDACTED)"));
}

}  // namespace
}  // namespace coffer::server

namespace coffer::server {
namespace {

TEST(ServerConfigTrustedProxies, ParsedAndChecked) {
  auto config = LoadServerConfig({"--data", "/srv/coffer", "--trusted-proxies", "127.0.0.1, ::1"}, {});
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->trusted_proxies, (std::vector<std::string>{"127.0.0.1", "::1"}));
  auto bad = LoadServerConfig({"--data", "/srv/coffer", "--trusted-proxies", "balancer.example"}, {});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("IP addresses"), std::string::npos) << bad.status().message();
  auto env = LoadServerConfig({"--data", "/srv/coffer"}, {{"COFFER_TRUSTED_PROXIES", "10.0.0.5"}});
  ASSERT_TRUE(env.ok()) << env.status().message();
  EXPECT_EQ(env->trusted_proxies, (std::vector<std::string>{"10.0.0.5"}));
}

}  // namespace
}  // namespace coffer::server
