// kmsd's XKS client transport (api/xks.h Transport): HTTPS with Boost.Asio SSL and Beast, every
// request SigV4-signed for service kms-xks-proxy, as AWS KMS calls an external key store proxy.
// Each call opens its own connection and runs on a private io_context for at most the timeout
// (AWS: 250 ms), so a proxy that is down, slow or hostile costs one bounded call and nothing else.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "api/xks.h"
#include "common/status.h"

namespace kmsd::xks {

struct TransportOptions {
    // host -> "address:port": where to connect for https://<host> (the certificate is still
    // checked against <host>), so a local proxy stands in for a real host name.
    std::map<std::string, std::string> endpoint_map;
    std::string ca_file;  // PEM certificates trusted besides the system's
    std::chrono::milliseconds timeout{250};
};

// Parses "host=address:port"; kValidation saying what is wrong.
Status AddEndpointMapping(TransportOptions& options, std::string_view mapping);

class HttpsTransport final : public api::xks::Transport {
public:
    // kValidation when the CA file cannot be read.
    static Result<std::unique_ptr<HttpsTransport>> Create(TransportOptions options);

    api::xks::Failure Post(const api::xks::Endpoint& endpoint, std::string_view path,
                           std::string_view body, int& status, std::string& answer) override;

private:
    api::xks::Failure Exchange(const api::xks::Endpoint& endpoint, std::string_view path,
                               std::string_view body, int& status, std::string& answer);
    explicit HttpsTransport(TransportOptions options) : options_(std::move(options)) {}
    Result<boost::asio::ssl::context*> Tls();

    TransportOptions options_;
    std::mutex tls_mu_;
    std::unique_ptr<boost::asio::ssl::context> tls_;  // made on first use
};

// The SigV4 Authorization header value for a POST of `body` to `host` and `target` at
// `amz_date` (YYYYMMDD'T'HHMMSS'Z'), service kms-xks-proxy, signing host and x-amz-date.
std::string XksAuthorization(const api::xks::Endpoint& endpoint, std::string_view host,
                             std::string_view target, std::string_view amz_date,
                             std::string_view body);

// Now as x-amz-date wants it.
std::string AmzDateNow();

}  // namespace kmsd::xks
