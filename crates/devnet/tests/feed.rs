//! `devnet::derive_incentives`: a generated world's own traffic scored by
//! the validator's rules, written back as the world's incentives (and, in
//! a kept catalog, as its metagraph).

mod support;

use std::collections::BTreeMap;

use devnet::{derive_incentives, generate, DeriveError, World};

#[tokio::test(flavor = "multi_thread")]
async fn derived_incentives_replace_the_approximation_and_a_kept_catalog_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = support::options(5, 6, 3, 200);
    options.out = dir.path().join("world");
    generate(&options).unwrap();
    let incentives = |world: &World| -> BTreeMap<String, u16> {
        world
            .metagraph
            .iter()
            .map(|n| (n.hotkey.clone(), n.incentive))
            .collect()
    };
    let approximate = incentives(&World::load(&options.out).unwrap());
    let keep = dir.path().join("kept");

    let paid = derive_incentives(&options.out, Some(&keep)).await.unwrap();

    let world = World::load(&options.out).unwrap();
    let derived = incentives(&world);
    assert_ne!(derived, approximate, "the scores replace the approximation");
    assert_eq!(derived.values().filter(|&&i| i > 0).count(), paid);
    let total: u32 = derived.values().map(|&i| u32::from(i)).sum();
    assert!(
        total.abs_diff(65535) <= paid as u32,
        "the shares make up the whole, within rounding: {total}"
    );
    let store = audit_store::Store::open(&keep, None).await.unwrap();
    let snapshot = store
        .catalog()
        .metagraph_at(world.meta.netuid, world.now())
        .await
        .unwrap()
        .expect("a snapshot at the world's present");
    let recorded: BTreeMap<String, u16> = snapshot
        .neurons
        .iter()
        .map(|n| (n.hotkey.clone(), n.incentive))
        .collect();
    assert_eq!(recorded, derived);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kept_catalog_must_go_to_a_new_directory() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = support::options(6, 3, 1, 20);
    options.out = dir.path().join("world");
    generate(&options).unwrap();
    let keep = dir.path().join("kept");
    std::fs::create_dir(&keep).unwrap();
    std::fs::write(keep.join("something"), b"mine").unwrap();
    let err = derive_incentives(&options.out, Some(&keep))
        .await
        .unwrap_err();
    assert!(
        matches!(err, DeriveError::NotEmpty(ref p) if *p == keep),
        "{err}"
    );
    assert!(err.to_string().contains("not empty"), "{err}");
}
