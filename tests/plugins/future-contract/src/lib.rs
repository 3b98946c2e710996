//! A plugin from the future: it exports the provider interface of contract
//! version 9.0.0, which this host does not speak. Loading it must fail with an
//! error that names both versions.

wit_bindgen::generate!({
    inline: r#"
        package llmnode:provider@9.0.0;

        interface provider {
            info: func() -> string;
        }

        world plugin {
            export provider;
        }
    "#,
});

struct Future;

impl exports::llmnode::provider::provider::Guest for Future {
    fn info() -> String {
        "future-contract".into()
    }
}

export!(Future);
