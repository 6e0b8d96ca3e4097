// The hot path without sockets (issue 13), so that a regression shows without the network:
// HandleHttpRequest and Dispatch() of Encrypt, Decrypt and GenerateDataKey end to end, and their
// parts one by one. Google Benchmark; prints numbers, never a pass/fail test.
// Usage: build/kmsd_bench_dispatch [--benchmark_filter=REGEX] [--benchmark_min_time=0.5]
#include <benchmark/benchmark.h>
#include <spdlog/spdlog.h>

#include <boost/beast/http.hpp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "api/dispatcher.h"
#include "api/json.h"
#include "api/resolve.h"
#include "api/validate.h"
#include "common/base64.h"
#include "hsm/blob.h"
#include "hsm/crypto.h"
#include "src/app.h"
#include "src/huge_pages.h"
#include "src/server/handler.h"
#include "storage/catalog.h"

using namespace kmsd;

namespace {

// One in-memory App (the request path the server runs, minus the socket) with one key, an
// Encrypt body, and a blob to decrypt.
struct World {
    std::unique_ptr<App> app;
    api::Caller root{
        "111122223333", "us-east-1", "arn:aws:iam::111122223333:root", "", nullptr, {}, {}};
    std::string key_id;
    std::string encrypt_body;
    std::string decrypt_body;
    std::string gdk_body;

    World() {
        Options options;
        options.storage.in_memory = true;
        options.log_level = "warn";
        if (const char* ring = std::getenv("KMSD_BENCH_AUDIT_RING"))
            options.audit_ring = std::strtoul(ring, nullptr, 10);
        // main() applies the level; here it is ours to set. stdout carries the benchmark's
        // JSON (tests/bench/run parses it), so nothing may log there at info.
        spdlog::set_level(spdlog::level::warn);
        auto opened = App::Open(options);
        if (!opened.ok()) Die("App::Open", opened.status().message());
        app = std::move(*opened);
        key_id = api::ToStd(Call("CreateKey", "{}")["KeyMetadata"]["KeyId"].get<SecureString>());
        encrypt_body = R"({"KeyId":")" + key_id +
                       R"(","Plaintext":"eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHg="})";
        const std::string blob =
            api::ToStd(Call("Encrypt", encrypt_body)["CiphertextBlob"].get<SecureString>());
        decrypt_body = R"({"CiphertextBlob":")" + blob + R"("})";
        gdk_body = R"({"KeyId":")" + key_id + R"(","KeySpec":"AES_256"})";
    }

    [[noreturn]] static void Die(const std::string& what, std::string_view why) {
        std::fprintf(stderr, "%s failed: %.*s\n", what.c_str(), static_cast<int>(why.size()),
                     why.data());
        std::exit(1);
    }

    api::Response Dispatch(const std::string& op, const std::string& body) const {
        return app->dispatcher().Dispatch(root, "TrentService." + op, "application/x-amz-json-1.1",
                                          body, "request-id");
    }

    api::Json Call(const std::string& op, const std::string& body) const {
        auto r = Dispatch(op, body);
        if (r.http_status != 200) Die(op, std::string_view(r.body.data(), r.body.size()));
        return api::Json::parse(r.body);
    }
};

// The allocator set up as kmsd's main sets it up, before anything is allocated for the world.
[[maybe_unused]] const bool kHugePages = AdviseHugePagesForLargeHeaps();

World& TheWorld() {
    static World world;
    return world;
}

void DispatchOp(benchmark::State& state, const std::string& op, const std::string& body) {
    const World& w = TheWorld();
    const std::string target = "TrentService." + op;
    for (auto _ : state) {
        auto r = w.app->dispatcher().Dispatch(w.root, target, "application/x-amz-json-1.1", body,
                                              "request-id");
        if (r.http_status != 200) World::Die(op, std::string_view(r.body.data(), r.body.size()));
        benchmark::DoNotOptimize(r);
    }
}

void BM_Dispatch_Encrypt(benchmark::State& s) { DispatchOp(s, "Encrypt", TheWorld().encrypt_body); }
void BM_Dispatch_Decrypt(benchmark::State& s) { DispatchOp(s, "Decrypt", TheWorld().decrypt_body); }
void BM_Dispatch_GenerateDataKey(benchmark::State& s) {
    DispatchOp(s, "GenerateDataKey", TheWorld().gdk_body);
}
BENCHMARK(BM_Dispatch_Encrypt);
BENCHMARK(BM_Dispatch_Decrypt);
BENCHMARK(BM_Dispatch_GenerateDataKey);

// Encrypt under a random key of many (KMSD_BENCH_KEYS, 20,000 unless set): what the cache and
// TLB misses of a large catalog add to BM_Dispatch_Encrypt's one hot key (design.md §8 wants the
// cost flat in the key count). Each key is used once before the timing starts, so its material is
// unsealed. The body is written into one reused buffer, as a request arrives in a session's
// buffer: a body of its own per key would add misses the server does not have.
struct RandomKeys {
    std::vector<char> ids;  // the key IDs, kIdBytes each, back to back
    static constexpr std::size_t kIdBytes = 36;
    std::size_t count() const { return ids.size() / kIdBytes; }
};

const RandomKeys& TheRandomKeys() {
    static const RandomKeys keys = [] {
        const World& w = TheWorld();
        const char* env = std::getenv("KMSD_BENCH_KEYS");
        const std::size_t n = env != nullptr ? std::strtoul(env, nullptr, 10) : 20000;
        RandomKeys out;
        for (std::size_t i = 0; i < n; ++i) {
            const std::string id =
                api::ToStd(w.Call("CreateKey", "{}")["KeyMetadata"]["KeyId"].get<SecureString>());
            if (id.size() != RandomKeys::kIdBytes) World::Die("CreateKey", "unexpected key ID");
            out.ids.insert(out.ids.end(), id.begin(), id.end());
            w.Call("Encrypt", R"({"KeyId":")" + id + R"(","Plaintext":"eA=="})");
        }
        return out;
    }();
    return keys;
}

// One timed call (valgrind --tool=callgrind --cache-sim=yes --toggle-collect='*EncryptOnce*'
// counts the cache misses of these calls only, not the setup's).
[[gnu::noinline]] api::Response EncryptOnce(const World& w, const std::string& body) {
    auto r = w.app->dispatcher().Dispatch(w.root, "TrentService.Encrypt",
                                          "application/x-amz-json-1.1", body, "request-id");
    if (r.http_status != 200) World::Die("Encrypt", std::string_view(r.body.data(), r.body.size()));
    return r;
}

void BM_Dispatch_Encrypt_RandomKey(benchmark::State& state) {
    const RandomKeys& keys = TheRandomKeys();
    const World& w = TheWorld();
    const std::string prefix = R"({"KeyId":")";
    std::string body = prefix + std::string(RandomKeys::kIdBytes, ' ') +
                       R"(","Plaintext":"eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHg="})";
    std::uint64_t pick = 88172645463325252ULL;  // xorshift64: no libc RNG state in the loop
    for (auto _ : state) {
        pick ^= pick << 13;
        pick ^= pick >> 7;
        pick ^= pick << 17;
        const char* id = keys.ids.data() + (pick % keys.count()) * RandomKeys::kIdBytes;
        body.replace(prefix.size(), RandomKeys::kIdBytes, id, RandomKeys::kIdBytes);
        benchmark::DoNotOptimize(EncryptOnce(w, body));
    }
}
BENCHMARK(BM_Dispatch_Encrypt_RandomKey);

// Only the catalog's lookup of a random key of many (FindKey: the index probe, the record's lines
// and what PrefetchForRequest starts loading), the part of the above that depends on the count.
void BM_FindKey_RandomKey(benchmark::State& state) {
    const RandomKeys& keys = TheRandomKeys();
    const World& w = TheWorld();
    const storage::Catalog& catalog = w.app->services().catalog;
    std::uint64_t pick = 88172645463325252ULL;
    for (auto _ : state) {
        pick ^= pick << 13;
        pick ^= pick >> 7;
        pick ^= pick << 17;
        const char* id = keys.ids.data() + (pick % keys.count()) * RandomKeys::kIdBytes;
        auto key = catalog.FindKey(storage::ScopedNameRef(
            w.root.account, w.root.region, std::string_view(id, RandomKeys::kIdBytes)));
        if (key == nullptr) World::Die("FindKey", "no such key");
        benchmark::DoNotOptimize(key->state);
    }
}
BENCHMARK(BM_FindKey_RandomKey);

// What a session does per request besides reading and writing: authentication, Dispatch(), the
// reply's headers and payload.
void BM_HandleHttpRequest_Encrypt(benchmark::State& state) {
    namespace http = boost::beast::http;
    World& w = TheWorld();
    for (auto _ : state) {
        state.PauseTiming();
        Request req{http::verb::post, "/", 11};
        req.set(http::field::host, "localhost:8080");
        req.set("X-Amz-Target", "TrentService.Encrypt");
        req.set(http::field::content_type, "application/x-amz-json-1.1");
        req.set(http::field::authorization,
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261129/us-east-1/kms/"
                "aws4_request, SignedHeaders=host;x-amz-date, Signature=00");
        req.body() = SecureString(w.encrypt_body.data(), w.encrypt_body.size());
        req.prepare_payload();
        state.ResumeTiming();
        Response res = HandleHttpRequest(*w.app, req, "127.0.0.1");
        if (res.result_int() != 200) World::Die("HandleHttpRequest", "not 200");
        benchmark::DoNotOptimize(res);
    }
}
BENCHMARK(BM_HandleHttpRequest_Encrypt);

void BM_JsonParse_EncryptRequest(benchmark::State& state) {
    const std::string& body = TheWorld().encrypt_body;
    for (auto _ : state) benchmark::DoNotOptimize(api::ParseRequestBody(body));
}
BENCHMARK(BM_JsonParse_EncryptRequest);

void BM_JsonSerialize_EncryptResponse(benchmark::State& state) {
    const World& w = TheWorld();
    const api::Json reply = w.Call("Encrypt", w.encrypt_body);
    for (auto _ : state) benchmark::DoNotOptimize(api::Serialize(reply));
}
BENCHMARK(BM_JsonSerialize_EncryptResponse);

// What Serialize replaced, for comparison.
void BM_JsonDump_EncryptResponse(benchmark::State& state) {
    const World& w = TheWorld();
    const api::Json reply = w.Call("Encrypt", w.encrypt_body);
    for (auto _ : state)
        benchmark::DoNotOptimize(reply.dump(-1, ' ', false, api::Json::error_handler_t::replace));
}
BENCHMARK(BM_JsonDump_EncryptResponse);

void BM_ValidateInput_Encrypt(benchmark::State& state) {
    const api::Json input = api::ParseRequestBody(TheWorld().encrypt_body).value();
    for (auto _ : state)
        benchmark::DoNotOptimize(api::ValidateInput(api::OperationIndex("Encrypt"), input));
}
BENCHMARK(BM_ValidateInput_Encrypt);

// Authorization alone is not reachable without a request context; DescribeKey is the operation
// whose work is little more than resolving the key and authorizing the caller.
void BM_Dispatch_DescribeKey(benchmark::State& s) {
    DispatchOp(s, "DescribeKey", R"({"KeyId":")" + TheWorld().key_id + R"("})");
}
BENCHMARK(BM_Dispatch_DescribeKey);

void BM_BlobParse(benchmark::State& state) {
    const World& w = TheWorld();
    const std::string b64 =
        api::ToStd(w.Call("Encrypt", w.encrypt_body)["CiphertextBlob"].get<SecureString>());
    const SecureBytes blob = Base64Decode(b64).value();
    for (auto _ : state) benchmark::DoNotOptimize(hsm::ParseBlobView(blob));
}
BENCHMARK(BM_BlobParse);

void BM_BlobBuild(benchmark::State& state) {
    const World& w = TheWorld();
    const std::string b64 =
        api::ToStd(w.Call("Encrypt", w.encrypt_body)["CiphertextBlob"].get<SecureString>());
    const hsm::BlobParts parts = hsm::ParseBlob(Base64Decode(b64).value()).value();
    for (auto _ : state) benchmark::DoNotOptimize(hsm::BuildBlob(parts));
}
BENCHMARK(BM_BlobBuild);

void BM_HkdfSha256(benchmark::State& state) {
    const SecureBytes key(32, 7), nonce(16, 3);
    const std::string info = "kmsd-blob-key";
    const ByteView info_bytes(reinterpret_cast<const std::uint8_t*>(info.data()), info.size());
    for (auto _ : state) benchmark::DoNotOptimize(hsm::HkdfSha256(key, nonce, info_bytes, 32));
}
BENCHMARK(BM_HkdfSha256);

void BM_AesGcmEncrypt_64B(benchmark::State& state) {
    const SecureBytes key(32, 7), iv(12, 1), aad(100, 2), plaintext(64, 5);
    for (auto _ : state) benchmark::DoNotOptimize(hsm::AesGcmEncrypt(key, iv, aad, plaintext));
}
BENCHMARK(BM_AesGcmEncrypt_64B);

void BM_RandomBytes_16(benchmark::State& state) {
    for (auto _ : state) benchmark::DoNotOptimize(hsm::RandomBytes(16));
}
BENCHMARK(BM_RandomBytes_16);

void BM_Base64Encode_200B(benchmark::State& state) {
    const Bytes data(200, 0x5A);
    for (auto _ : state) benchmark::DoNotOptimize(Base64Encode(data));
}
BENCHMARK(BM_Base64Encode_200B);

void BM_Base64Decode_200B(benchmark::State& state) {
    const std::string b64 = Base64Encode(Bytes(200, 0x5A));
    for (auto _ : state) benchmark::DoNotOptimize(Base64Decode(b64));
}
BENCHMARK(BM_Base64Decode_200B);

void BM_RequestId(benchmark::State& state) {
    for (auto _ : state) benchmark::DoNotOptimize(api::NewUuid());
}
BENCHMARK(BM_RequestId);

void BM_HttpDate(benchmark::State& state) {
    for (auto _ : state) benchmark::DoNotOptimize(HttpDate());
}
BENCHMARK(BM_HttpDate);

// What counting one request for /_kmsd/metrics adds to HandleHttpRequest (issue 14: < 2%).
void BM_MetricsRecord(benchmark::State& state) {
    App& app = *TheWorld().app;
    for (auto _ : state) app.metrics().Record("TrentService.Encrypt", "", 0.00002);
}
BENCHMARK(BM_MetricsRecord);

}  // namespace

BENCHMARK_MAIN();
