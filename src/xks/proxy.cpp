#include "src/xks/proxy.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "api/json.h"
#include "auth/sigv4.h"
#include "common/base64.h"
#include "common/json_limits.h"
#include "hsm/certificate.h"
#include "hsm/crypto.h"
#include "src/logging.h"

namespace kmsd::xks {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using api::Json;

constexpr std::string_view kService = "kms-xks-proxy";
constexpr std::string_view kKeyLabel = "kmsd xks-proxy key v1:";
// The specification's minimums a proxy must accept (and this one's maximums).
constexpr std::size_t kMaxPlaintext = 4300;
constexpr std::size_t kMaxAad = 8192;
constexpr std::size_t kMaxBodyBytes = 64 * 1024;
constexpr std::size_t kMaxKeyIdLength = 128;
constexpr double kAllowedSkewSeconds = 300;
constexpr std::size_t kIvBytes = 12;
constexpr std::size_t kTagBytes = 16;
// What this proxy keeps in ciphertextMetadata: which derivation made the key (a version, as a
// real proxy keeps its HSM key's version).
constexpr std::string_view kMetadata = "kmsd-v1";
constexpr int kMaxConnections = 256;

ProxyReply Fail(int status, std::string_view name) {
    return {status, "{\"errorName\":\"" + std::string(name) + "\"}"};
}

ByteView View(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

bool IsKeyId(std::string_view id) {
    return !id.empty() && id.size() <= kMaxKeyIdLength &&
           std::all_of(id.begin(), id.end(), [](char c) {
               return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ||
                      c == '.';
           });
}

// The AAD given to AES-GCM, as the specification recommends: the lengths keep bytes from
// moving between the request's AAD and the metadata.
Bytes GcmAad(ByteView aad, ByteView metadata) {
    Bytes out(3 + aad.size() + metadata.size());
    out[0] = static_cast<std::uint8_t>(aad.size() >> 8);
    out[1] = static_cast<std::uint8_t>(aad.size() & 0xff);
    std::copy(aad.begin(), aad.end(), out.begin() + 2);
    out[2 + aad.size()] = static_cast<std::uint8_t>(metadata.size());
    std::copy(metadata.begin(), metadata.end(), out.begin() + 3 + static_cast<long>(aad.size()));
    return out;
}

// A base64 member: absent is nullopt with `present` false; undecodable or over `max` is
// nullopt with `present` true.
std::optional<SecureBytes> B64Member(const Json& obj, const char* name, std::size_t max,
                                     bool& present) {
    auto it = obj.find(name);
    present = it != obj.end();
    if (!present) return std::nullopt;
    if (!it->is_string()) return std::nullopt;
    const auto& text = it->get_ref<const SecureString&>();
    auto decoded = Base64Decode(std::string_view(text.data(), text.size()));
    if (!decoded || decoded->size() > max) return std::nullopt;
    return decoded;
}

std::string B64(ByteView bytes) { return Base64Encode(bytes); }

}  // namespace

ProxyCore::ProxyCore(ProxyOptions options, SecureBytes master_key)
    : options_(std::move(options)), master_key_(std::move(master_key)) {}

ProxyReply ProxyCore::Handle(std::string_view method, std::string_view target,
                             const std::vector<std::pair<std::string, std::string>>& headers,
                             std::string_view body, double now) const {
    // The route: unknown paths answer before any authentication, as the sample proxy does.
    const std::string& base = options_.uri_path;
    if (target.substr(0, base.size()) != base) return Fail(404, "InvalidUriPathException");
    const std::string_view rest = target.substr(base.size());
    std::string_view key_id;
    std::string_view operation;
    if (rest == "/health") {
        operation = "health";
    } else if (rest.substr(0, 6) == "/keys/") {
        const std::string_view tail = rest.substr(6);
        const auto slash = tail.find('/');
        if (slash == std::string_view::npos) return Fail(404, "InvalidUriPathException");
        key_id = tail.substr(0, slash);
        operation = tail.substr(slash + 1);
        if (!IsKeyId(key_id) ||
            (operation != "metadata" && operation != "encrypt" && operation != "decrypt"))
            return Fail(404, "InvalidUriPathException");
    } else {
        return Fail(404, "InvalidUriPathException");
    }
    if (method != "POST") return {405, ""};

    // SigV4 over host and x-amz-date, for this proxy's one credential.
    auth::SignedRequest signed_req{"POST", std::string(target), headers, body};
    const std::string authorization = auth::HeaderValue(signed_req, "authorization");
    auto cred = auth::ParseAuthorization(authorization);
    const std::string amz_date = auth::HeaderValue(signed_req, "x-amz-date");
    const auto signs = [&](std::string_view h) {
        return std::find(cred->signed_headers.begin(), cred->signed_headers.end(), h) !=
               cred->signed_headers.end();
    };
    if (!cred || cred->service != kService || cred->access_key_id != options_.access_key_id ||
        cred->terminator != "aws4_request" || amz_date.size() != 16 ||
        cred->date != amz_date.substr(0, 8) || !signs("host") || !signs("x-amz-date") ||
        (!options_.region.empty() && cred->region != options_.region))
        return Fail(401, "AuthenticationFailedException");
    {
        std::tm tm{};
        if (strptime(amz_date.c_str(), "%Y%m%dT%H%M%SZ", &tm) == nullptr)
            return Fail(401, "AuthenticationFailedException");
        const double when = static_cast<double>(timegm(&tm));
        if (std::fabs(when - now) > kAllowedSkewSeconds)
            return Fail(401, "AuthenticationFailedException");
    }
    const std::string expected = auth::Sign(
        std::string_view(options_.secret_access_key.data(), options_.secret_access_key.size()),
        amz_date, *cred, auth::CanonicalRequest(signed_req, cred->signed_headers));
    if (CRYPTO_memcmp(expected.data(), cred->signature.data(),
                      std::min(expected.size(), cred->signature.size())) != 0 ||
        expected.size() != cred->signature.size())
        return Fail(401, "AuthenticationFailedException");

    // The body: a JSON object with requestMetadata naming the KMS operation and request.
    if (body.size() > kMaxBodyBytes || !JsonNestingWithin(body))
        return Fail(400, "ValidationException");
    auto parsed = api::ParseRequestBody(body);
    if (!parsed.ok() || !parsed->is_object()) return Fail(400, "ValidationException");
    const Json& req = *parsed;
    auto meta = req.find("requestMetadata");
    if (meta == req.end() || !meta->is_object()) return Fail(400, "ValidationException");
    for (const char* needed : {"kmsOperation", "kmsRequestId"}) {
        auto it = meta->find(needed);
        if (it == meta->end() || !it->is_string()) return Fail(400, "ValidationException");
    }

    if (operation == "health") {
        nlohmann::ordered_json out;
        out["xksProxyFleetSize"] = 1;
        out["xksProxyVendor"] = "kmsd";
        out["xksProxyModel"] = "kmsd xks-proxy";
        out["ekmVendor"] = "kmsd software HSM";
        out["ekmFleetDetails"] = nlohmann::ordered_json::array(
            {{{"id", "kmsd-hsm-1"}, {"model", "kmsd"}, {"healthStatus", "ACTIVE"}}});
        return {200, out.dump()};
    }
    if (auto principal = meta->find("awsPrincipalArn");
        principal == meta->end() || !principal->is_string())
        return Fail(400, "ValidationException");
    const std::string id(key_id);
    const bool enabled =
        std::find(options_.keys.begin(), options_.keys.end(), id) != options_.keys.end();
    const bool disabled = std::find(options_.disabled_keys.begin(), options_.disabled_keys.end(),
                                    id) != options_.disabled_keys.end();
    if (!enabled && !disabled) return Fail(404, "KeyNotFoundException");
    if (operation == "metadata") {
        nlohmann::ordered_json out;
        out["keySpec"] = "AES_256";
        out["keyUsage"] = {"ENCRYPT", "DECRYPT"};
        out["keyStatus"] = enabled ? "ENABLED" : "DISABLED";
        return {200, out.dump()};
    }
    if (!enabled) return Fail(400, "InvalidStateException");
    if (auto alg = req.find("encryptionAlgorithm");
        alg == req.end() || !alg->is_string() || alg->get_ref<const SecureString&>() != "AES_GCM")
        return Fail(400, "ValidationException");
    bool present = false;
    auto aad = B64Member(req, "additionalAuthenticatedData", kMaxAad, present);
    if (present && !aad) return Fail(400, "ValidationException");
    const SecureBytes no_aad;
    const SecureBytes& aad_bytes = aad ? *aad : no_aad;
    const std::string info = std::string(kKeyLabel) + id;
    auto key = hsm::HkdfSha256(master_key_, {}, View(info), 32);
    if (!key.ok()) return Fail(500, "InternalException");

    if (operation == "encrypt") {
        auto plaintext = B64Member(req, "plaintext", kMaxPlaintext, present);
        if (!plaintext) return Fail(400, "ValidationException");
        bool wants_cdiv = false;
        if (auto cdiv = req.find("ciphertextDataIntegrityValueAlgorithm"); cdiv != req.end()) {
            if (!cdiv->is_string() || cdiv->get_ref<const SecureString&>() != "SHA_256")
                return Fail(400, "ValidationException");
            wants_cdiv = true;
        }
        const SecureBytes iv = hsm::RandomBytes(kIvBytes);
        auto sealed = hsm::AesGcmEncrypt(*key, iv, GcmAad(aad_bytes, View(kMetadata)), *plaintext);
        if (!sealed.ok() || sealed->size() < kTagBytes) return Fail(500, "InternalException");
        const ByteView all(*sealed);
        const ByteView ct = all.first(all.size() - kTagBytes);
        const ByteView tag = all.last(kTagBytes);
        nlohmann::ordered_json out;
        out["authenticationTag"] = B64(tag);
        out["ciphertext"] = B64(ct);
        if (wants_cdiv) {
            Bytes digest_input(aad_bytes.begin(), aad_bytes.end());
            for (ByteView part : {View(kMetadata), ByteView(iv), ct, tag})
                digest_input.insert(digest_input.end(), part.begin(), part.end());
            out["ciphertextDataIntegrityValue"] = B64(hsm::Sha256(digest_input));
        }
        out["ciphertextMetadata"] = B64(View(kMetadata));
        out["initializationVector"] = B64(iv);
        return {200, out.dump()};
    }
    // decrypt
    auto ct = B64Member(req, "ciphertext", kMaxPlaintext, present);
    auto iv = B64Member(req, "initializationVector", 16, present);
    auto tag = B64Member(req, "authenticationTag", kTagBytes, present);
    auto metadata = B64Member(req, "ciphertextMetadata", 20, present);
    if (present && !metadata) return Fail(400, "ValidationException");
    if (!ct || !iv || !tag || (iv->size() != 12 && iv->size() != 16) || tag->size() != kTagBytes)
        return Fail(400, "ValidationException");
    Bytes sealed(ct->begin(), ct->end());
    sealed.insert(sealed.end(), tag->begin(), tag->end());
    const SecureBytes no_metadata;
    auto plaintext = hsm::AesGcmDecrypt(
        *key, *iv, GcmAad(aad_bytes, metadata ? *metadata : no_metadata), sealed);
    if (!plaintext.ok()) return Fail(400, "InvalidCiphertextException");
    nlohmann::ordered_json out;
    out["plaintext"] = B64(*plaintext);
    return {200, out.dump()};
}

namespace {

// Reads `path`, or writes what `make` returns there first (mode 0600) when it does not exist.
template <typename String, typename Make>
Result<String> LoadOrCreate(const std::filesystem::path& path, Make make) {
    if (std::filesystem::exists(path)) {
        std::ifstream in(path, std::ios::binary);
        String text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (!in.good() && !in.eof())
            return Error(ErrorCode::kInternal, "cannot read " + path.string());
        return text;
    }
    KMSD_ASSIGN_OR_RETURN(String text, make());
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return Error(ErrorCode::kInternal, "cannot create " + path.string());
    const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ::close(fd);
    if (!written) return Error(ErrorCode::kInternal, "cannot write " + path.string());
    return text;
}

class ProxyServer {
public:
    ProxyServer(const ProxyCore& core, ssl::context& tls) : core_(core), tls_(tls) {}

    asio::awaitable<void> Accept(tcp::acceptor& acceptor) {
        asio::steady_timer pause(acceptor.get_executor());
        for (;;) {
            bool failed = false;
            try {
                tcp::socket socket = co_await acceptor.async_accept(asio::use_awaitable);
                if (connections_.load() >= kMaxConnections) continue;  // closed at once
                asio::co_spawn(acceptor.get_executor(), Serve(std::move(socket)), asio::detached);
            } catch (const boost::system::system_error& e) {
                if (e.code() == asio::error::operation_aborted) co_return;
                spdlog::warn("accept failed: {}", e.what());
                failed = true;
            }
            // Out of descriptors, say: wait a little and go on accepting.
            if (failed) {
                pause.expires_after(std::chrono::milliseconds(100));
                co_await pause.async_wait(asio::use_awaitable);
            }
        }
    }

private:
    asio::awaitable<void> Serve(tcp::socket socket) {
        ++connections_;
        struct Release {
            std::atomic<int>& n;
            ~Release() { --n; }
        } release{connections_};
        ssl::stream<beast::tcp_stream> stream(std::move(socket), tls_);
        beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
        try {
            co_await stream.async_handshake(ssl::stream_base::server, asio::use_awaitable);
            // Bounded: the parser's limits do not bound a chunk-size line without end.
            beast::flat_buffer buffer(kMaxBodyBytes + 16 * 1024);
            for (;;) {
                http::request_parser<http::string_body> parser;
                parser.body_limit(kMaxBodyBytes);
                beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(30));
                co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
                auto req = parser.release();
                std::vector<std::pair<std::string, std::string>> headers;
                for (const auto& f : req)
                    headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
                const double now = std::chrono::duration<double>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count();
                ProxyReply reply =
                    core_.Handle(std::string(req.method_string()), std::string(req.target()),
                                 headers, req.body(), now);
                spdlog::info("{} {} {}", std::string(req.method_string()),
                             std::string(req.target()), reply.status);
                http::response<http::string_body> res{static_cast<http::status>(reply.status),
                                                      req.version()};
                if (reply.status == 405) res.set(http::field::allow, "POST");
                if (!reply.body.empty()) res.set(http::field::content_type, "application/json");
                res.keep_alive(req.keep_alive());
                res.body() = std::move(reply.body);
                res.prepare_payload();
                co_await http::async_write(stream, res, asio::use_awaitable);
                if (!res.keep_alive()) break;
            }
            beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(1));
            co_await stream.async_shutdown(asio::use_awaitable);
        } catch (const std::exception&) {
            // The client went away, timed out or sent what is not HTTP: the connection ends.
        }
    }

    const ProxyCore& core_;
    ssl::context& tls_;
    std::atomic<int> connections_{0};
};

}  // namespace

int RunProxyCommand(int argc, char** argv) {
    ProxyOptions o;
    std::string secret;
    CLI::App app{
        "kmsd xks-proxy: an external key store proxy (AWS XKS Proxy API v1) with software keys"};
    app.add_option("--data-dir", o.data_dir, "Directory of its master key and TLS certificate")
        ->envname("KMSD_XKS_PROXY_DATA_DIR");
    app.add_option("--bind", o.bind, "Address to listen on")->envname("KMSD_XKS_PROXY_BIND");
    app.add_option("--port", o.port, "HTTPS port (0: any free port)")
        ->envname("KMSD_XKS_PROXY_PORT");
    app.add_option("--tls-name", o.tls_name,
                   "DNS name of the certificate made on first start (the XksProxyUriEndpoint's "
                   "host)")
        ->envname("KMSD_XKS_PROXY_TLS_NAME");
    app.add_option("--access-key-id", o.access_key_id,
                   "XksProxyAuthenticationCredential AccessKeyId that requests must be signed "
                   "with")
        ->envname("KMSD_XKS_PROXY_ACCESS_KEY_ID")
        ->required();
    app.add_option("--secret-access-key", secret,
                   "Its RawSecretAccessKey (better: the environment variable)")
        ->envname("KMSD_XKS_PROXY_SECRET_ACCESS_KEY")
        ->required();
    app.add_option("--uri-path", o.uri_path, "XksProxyUriPath served")
        ->envname("KMSD_XKS_PROXY_URI_PATH");
    app.add_option("--key", o.keys, "An external key ID (ENABLED); repeat for more");
    app.add_option("--disabled-key", o.disabled_keys, "An external key ID that is DISABLED");
    app.add_option("--region", o.region, "Accept only requests signed for this Region");
    std::string log_level = "info";
    app.add_option("--log-level", log_level, "trace, debug, info, warn, error");
    try {
        app.parse(argc - 1, argv + 1);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    o.secret_access_key.assign(secret.begin(), secret.end());
    OPENSSL_cleanse(secret.data(), secret.size());
    SetUpLogging(log_level, "text");
    for (const auto& id : o.keys)
        if (!IsKeyId(id)) {
            std::cerr << "kmsd xks-proxy: --key " << id << ": not a valid external key ID\n";
            return 2;
        }

    const std::filesystem::path dir(o.data_dir);
    std::error_code fs_error;
    std::filesystem::create_directories(dir, fs_error);
    auto master = LoadOrCreate<SecureString>(dir / "master.key", []() -> Result<SecureString> {
        SecureBytes random = hsm::RandomBytes(32);
        return SecureString(random.begin(), random.end());
    });
    std::optional<hsm::ServerCertificate> made;
    const auto make_cert = [&]() -> Result<hsm::ServerCertificate> {
        if (!made) {
            KMSD_ASSIGN_OR_RETURN(hsm::ServerCertificate c,
                                  hsm::SelfSignedServerCertificate(o.tls_name));
            made = std::move(c);
        }
        return *made;
    };
    auto key_pem = LoadOrCreate<SecureString>(dir / "tls-key.pem", [&]() -> Result<SecureString> {
        KMSD_ASSIGN_OR_RETURN(auto c, make_cert());
        return c.private_key_pem;
    });
    auto cert_pem = LoadOrCreate<std::string>(dir / "tls-cert.pem", [&]() -> Result<std::string> {
        KMSD_ASSIGN_OR_RETURN(auto c, make_cert());
        return c.certificate_pem;
    });
    for (const Status& st : {master.status(), key_pem.status(), cert_pem.status()})
        if (!st.ok()) {
            std::cerr << "kmsd xks-proxy: " << st.message() << "\n";
            return 1;
        }
    if (master->size() != 32) {
        std::cerr << "kmsd xks-proxy: " << (dir / "master.key").string()
                  << " is not a 32-byte key\n";
        return 1;
    }

    try {
        ssl::context tls(ssl::context::tls_server);
        SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_2_VERSION);
        tls.use_certificate_chain(asio::buffer(cert_pem->data(), cert_pem->size()));
        tls.use_private_key(asio::buffer(key_pem->data(), key_pem->size()), ssl::context::pem);
        const ProxyCore core(o, SecureBytes(master->begin(), master->end()));
        asio::io_context ioc;
        tcp::acceptor acceptor(
            ioc, {asio::ip::make_address(o.bind), static_cast<unsigned short>(o.port)});
        ProxyServer server(core, tls);
        asio::co_spawn(ioc, server.Accept(acceptor), asio::detached);
        asio::signal_set signals(ioc, SIGINT, SIGTERM);
        signals.async_wait([&](const boost::system::error_code&, int) { ioc.stop(); });
        const auto bound = acceptor.local_endpoint();
        spdlog::info("xks-proxy listening on {}:{} (https://{}{}, {} keys)",
                     bound.address().to_string(), bound.port(), o.tls_name, o.uri_path,
                     o.keys.size() + o.disabled_keys.size());
        std::cerr << "xks-proxy listening on " << bound.address().to_string() << ":" << bound.port()
                  << std::endl;
        // One thread: each connection's timer and I/O then never run at once (Beast's
        // tcp_stream wants a strand otherwise), and a test proxy needs no more.
        ioc.run();
    } catch (const std::exception& e) {
        std::cerr << "kmsd xks-proxy: " << e.what() << "\n";
        return 1;
    }
    return 0;
}

}  // namespace kmsd::xks
