//! The command line: a mode and its numbers.

pub struct Args {
    pub mode: String,
    pub seconds: u64,
    pub concurrency: usize,
    pub batch: usize,
    pub subscriptions: usize,
    pub events: usize,
    pub rate: u64,
}

pub fn parse_args() -> Args {
    let mut args = Args {
        mode: "ingest".into(),
        seconds: 10,
        concurrency: 8,
        batch: 100,
        subscriptions: 0,
        events: 4000,
        rate: 500,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut num = |name: &str| -> u64 {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} needs a number"))
        };
        match a.as_str() {
            "--seconds" => args.seconds = num("--seconds"),
            "--concurrency" => args.concurrency = num("--concurrency") as usize,
            "--batch" => args.batch = num("--batch") as usize,
            "--subscriptions" => args.subscriptions = num("--subscriptions") as usize,
            "--events" => args.events = num("--events") as usize,
            "--rate" => args.rate = num("--rate"),
            "--in-flight" => {
                num("--in-flight");
            }
            m if !m.starts_with('-') => args.mode = m.to_owned(),
            other => panic!("unknown argument {other}"),
        }
    }
    args
}
