#include "store/open.h"

#include <algorithm>
#include <string_view>

#include "store/local/local_blob_store.h"
#include "store/s3/s3_blob_store.h"
#include "store/postgres/postgres_meta_store.h"
#include "store/postgres/postgres_staff_store.h"
#include "store/sqlite/sqlite_meta_store.h"
#include "store/sqlite/sqlite_staff_store.h"

namespace coffer::store {
namespace {

// The absolute path of "<scheme>:///path", or kInvalidArgument naming the URL's role.
StatusOr<std::string> AbsolutePathOf(std::string_view url, std::string_view scheme, std::string_view role) {
  std::string_view rest = url.substr(scheme.size());
  if (rest.empty() || rest.front() != '/' || rest == "/") {
    return InvalidArgumentError(std::string(role) + " URL \"" + std::string(url) +
                                "\" must name an absolute path, as in " + std::string(scheme) + "/abs/path");
  }
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return InvalidArgumentError(std::string(role) + " URL \"" + std::string(url) +
                                "\": query strings and fragments are not supported");
  }
  return std::string(rest);
}

}  // namespace

StatusOr<std::unique_ptr<MetaStore>> OpenMetaStore(const std::string& url) {
  constexpr std::string_view kSqlite = "sqlite://";
  if (url.starts_with(kSqlite)) {
    COFFER_ASSIGN_OR_RETURN(std::string path, AbsolutePathOf(url, kSqlite, "metadata store"));
    COFFER_ASSIGN_OR_RETURN(std::unique_ptr<SqliteMetaStore> store, SqliteMetaStore::Open(path));
    return std::unique_ptr<MetaStore>(std::move(store));
  }
  if (url.starts_with("postgresql://") || url.starts_with("postgres://")) {
    COFFER_ASSIGN_OR_RETURN(std::unique_ptr<PostgresMetaStore> store, PostgresMetaStore::Open(url));
    return std::unique_ptr<MetaStore>(std::move(store));
  }
  // Only the scheme is echoed: the rest of a URL may hold a password.
  const std::string scheme = url.substr(0, std::min(url.find(':'), size_t{16}));
  return InvalidArgumentError("unsupported metadata store URL scheme \"" + scheme +
                              "\" (supported: sqlite:///abs/path, postgresql://user@host:port/db)");
}

StatusOr<std::unique_ptr<StaffStore>> OpenStaffStore(const std::string& url) {
  constexpr std::string_view kSqlite = "sqlite://";
  if (url.starts_with(kSqlite)) {
    COFFER_ASSIGN_OR_RETURN(std::string path, AbsolutePathOf(url, kSqlite, "metadata store"));
    COFFER_ASSIGN_OR_RETURN(std::unique_ptr<SqliteStaffStore> store, SqliteStaffStore::Open(path));
    return std::unique_ptr<StaffStore>(std::move(store));
  }
  if (url.starts_with("postgresql://") || url.starts_with("postgres://")) {
    COFFER_ASSIGN_OR_RETURN(std::unique_ptr<PostgresStaffStore> store, PostgresStaffStore::Open(url));
    return std::unique_ptr<StaffStore>(std::move(store));
  }
  // Only the scheme is echoed: the rest of a URL may hold a password.
  const std::string scheme = url.substr(0, std::min(url.find(':'), size_t{16}));
  return InvalidArgumentError("unsupported metadata store URL scheme \"" + scheme +
                              "\" for the staff console (supported: sqlite://, postgresql://)");
}

StatusOr<std::unique_ptr<BlobStore>> OpenBlobStore(const std::string& url) {
  constexpr std::string_view kFile = "file://";
  if (url.starts_with(kFile)) {
    COFFER_ASSIGN_OR_RETURN(std::string path, AbsolutePathOf(url, kFile, "blob store"));
    COFFER_ASSIGN_OR_RETURN(std::unique_ptr<LocalBlobStore> store, LocalBlobStore::Open(path));
    return std::unique_ptr<BlobStore>(std::move(store));
  }
  if (url.starts_with("s3://")) {
    COFFER_ASSIGN_OR_RETURN(std::unique_ptr<s3::S3BlobStore> store, s3::S3BlobStore::Open(url));
    return std::unique_ptr<BlobStore>(std::move(store));
  }
  return InvalidArgumentError("unsupported blob store URL \"" + url + "\" (supported: file://, s3://)");
}

}  // namespace coffer::store
