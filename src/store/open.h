// Opens the configured storage engines from URLs, so that the server's configuration (and
// nothing else) decides which backend runs. New engines (PostgreSQL, S3) plug in here.
//
//   metadata: sqlite:///abs/path/meta.sqlite
//   blobs:    file:///abs/dir
//
// The path must be absolute (three slashes after the scheme): "sqlite://rel/x" would be
// read by URL rules as a host named "rel", which is almost certainly a mistake.
#ifndef COFFER_STORE_OPEN_H_
#define COFFER_STORE_OPEN_H_

#include <memory>
#include <string>

#include "coffer/status.h"
#include "store/blob_store.h"
#include "store/meta_store.h"
#include "store/staff_store.h"

namespace coffer::store {

// kInvalidArgument for an unsupported scheme or a malformed URL; otherwise whatever the
// engine's Open returns.
StatusOr<std::unique_ptr<MetaStore>> OpenMetaStore(const std::string& url);
StatusOr<std::unique_ptr<BlobStore>> OpenBlobStore(const std::string& url);
// The staff console's store (issue 5), in the same database as the metadata store `url`.
StatusOr<std::unique_ptr<StaffStore>> OpenStaffStore(const std::string& url);

}  // namespace coffer::store

#endif  // COFFER_STORE_OPEN_H_
