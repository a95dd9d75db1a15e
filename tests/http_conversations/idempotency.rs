//! `Idempotency-Key` on both writing endpoints: replayed with
//! `Idempotent-Replayed`, done once however often, another body under the
//! key 422, another caller its own keys, a refusal replayed as it was, a
//! request still in flight 409, a key that is not one 400.

use super::*;

#[tokio::test]
async fn idempotency_key() {
    for backend in backends() {
        println!("== idempotency_key on {}", backend.name());
        let (router, env, _dir) = door(&backend).await;
        let call = |credential: &str, path: &str, key: &str, body: &Value| {
            common::http::Call::post(path)
                .bearer(credential)
                .header("idempotency-key", key)
                .json(body)
        };
        let body = start_body("Hello!");
        let first = call(PLATFORM.2, START, "k-1", &body).send(&router).await;
        let first_json = expect(&first, 201);
        assert_eq!(first.header("idempotent-replayed"), None);
        let again = call(PLATFORM.2, START, "k-1", &body).send(&router).await;
        assert_eq!(again.status, 201);
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(again.header("content-type"), Some("application/json"));
        assert_eq!(again.json(), first_json, "the same answer");
        assert_eq!(env.ticket_count().await, 1, "one conversation");
        // The same key with another body: refused, nothing started.
        let other = start_body("Hello again!");
        call(PLATFORM.2, START, "k-1", &other)
            .send(&router)
            .await
            .problem(422, "invalid");
        assert_eq!(env.ticket_count().await, 1);
        // Another caller has keys of its own.
        let token = user_token(&router, BOB).await;
        let mine = json!({ "queue": "desk", "subject": "Lot 9", "text": "Hi" });
        expect(&call(&token, START, "k-1", &mine).send(&router).await, 201);
        assert_eq!(env.ticket_count().await, 2);

        // A message: posted once; a refusal is replayed as it was.
        let n = first_json["conversation"].as_i64().unwrap();
        let path = format!("{}?as={AGENT}", messages_of(n));
        let text = json!({ "text": "Yes." });
        let count = || async { env.store().messages(n).await.unwrap().len() };
        let before = count().await;
        for _ in 0..3 {
            expect(
                &call(PLATFORM.2, &path, "m-1", &text).send(&router).await,
                201,
            );
        }
        assert_eq!(count().await, before + 1, "posted once");
        // The same key on another conversation is another request.
        let elsewhere = format!("{}?as={AGENT}", messages_of(n + 1));
        call(PLATFORM.2, &elsewhere, "m-1", &text)
            .send(&router)
            .await
            .problem(422, "invalid");
        let refused = json!({ "text": REFUSED_TEXT });
        let first = call(PLATFORM.2, &path, "m-2", &refused).send(&router).await;
        let problem = first.problem(422, "invalid");
        let again = call(PLATFORM.2, &path, "m-2", &refused).send(&router).await;
        assert_eq!(again.problem(422, "invalid"), problem);
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        // The same request while the first still runs (its key reserved,
        // not completed): 409, nothing posted.
        let hash = parley::http::idempotency::request_hash("POST", &path, &text);
        let owner = parley::http::idempotency::owner(&format!("key:{}", PLATFORM.0), Some(AGENT));
        let now = parley::store::now_ms();
        let reserved = env
            .store()
            .reserve(&owner, "m-3", &hash, now)
            .await
            .unwrap();
        assert_eq!(reserved, parley::store::Reserved::Fresh);
        let before = count().await;
        call(PLATFORM.2, &path, "m-3", &text)
            .send(&router)
            .await
            .problem(409, "conflict");
        assert_eq!(count().await, before, "nothing posted");
        // A key that is not one.
        call(PLATFORM.2, &path, "", &text)
            .send(&router)
            .await
            .problem(400, "bad-request");
    }
}
