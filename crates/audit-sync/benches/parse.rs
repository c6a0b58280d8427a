//! Parsing throughput of invocation exports (rows/s) and of the
//! Python-literal metrics alone. `cargo xtask bench parse`.

use audit_store::FactTable;
use audit_sync::{parse_export, pyliteral};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const ROWS: usize = 60_000;

fn export() -> String {
    // Real addresses, as upstream writes them: each is checked as SS58.
    let hotkeys: Vec<String> = (0..250u8)
        .map(|uid| subtensor::keys::ss58(&[uid; 32]))
        .collect();
    let mut csv = String::from("parent_invocation_id,invocation_id,chute_id,chute_user_id,function_name,user_id,image_id,image_user_id,instance_id,miner_uid,miner_hotkey,started_at,completed_at,error_message,compute_multiplier,bounty,metrics\n");
    for i in 0..ROWS {
        let metrics = match i % 4 {
            0 => "\"{'nc': 1.2345, 'p': False}\"".to_string(),
            1 => "\"{'steps': 25, 'masps': 0.0512, 'p': False}\"".to_string(),
            2 => {
                "\"{'it': 512, 'ot': 128, 'maspt': 0.0123, 'ttft': 0.21, 'p': False}\"".to_string()
            }
            _ => String::new(),
        };
        csv.push_str(&format!(
            "{i:08x}-aaaa-4bbb-8ccc-000000000000,{i:08x}-1111-4222-8333-444444444444,791ea6b9-0000-4000-8000-000000000000,u-1,chat,user-{u},img,imgu,d669c3e4-0000-4000-8000-{i:012x},{uid},{hotkey},2025-02-10 15:51:19.216856,2025-02-10 15:51:21.016856+00:00,,1.5,0.0,{metrics}\n",
            u = i % 100,
            uid = i % 250,
            hotkey = hotkeys[i % 250],
        ));
    }
    csv
}

fn parse(c: &mut Criterion) {
    let csv = export();
    let mut group = c.benchmark_group("parse");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("invocations_export", |b| {
        b.iter(|| {
            let mut rows = 0;
            parse_export(FactTable::Invocations, csv.as_bytes(), |f| {
                rows += f.height();
                Ok(())
            })
            .unwrap();
            rows
        })
    });
    let literal = "{'it': 512, 'ot': 128, 'nc': 1.2345, 'p': False, 'maspt': 0.0123, 'extra': {'a': [1, 2.5e-3, 'x']}}";
    group.throughput(Throughput::Elements(1));
    group.bench_function("metrics_literal", |b| {
        b.iter(|| pyliteral::parse(literal).unwrap())
    });
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
