//! Values crossing into and out of SQL, the same for both backends: a bound
//! argument ([`Arg`], borrowed, so binding copies nothing) and a column read
//! back ([`Col`]). PostgreSQL is strict about types where SQLite is not, so
//! both directions adapt to the type the server reports (an integer binds to
//! `int4` or `int8`, `SUM` of `bigint` reads back from `numeric`).

use bytes::BytesMut;
use rusqlite::types::{ToSqlOutput, ValueRef};
use std::error::Error;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

/// One bound argument.
#[derive(Debug, Clone, Copy)]
pub enum Arg<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// Anything that binds as an [`Arg`] (what `args![…]` accepts).
pub trait ToArg {
    /// The argument, borrowing from `self`.
    fn to_arg(&self) -> Arg<'_>;
}

macro_rules! int_arg {
    ($($t:ty),*) => {$(
        impl ToArg for $t {
            fn to_arg(&self) -> Arg<'_> {
                Arg::Int(*self as i64)
            }
        }
    )*};
}
int_arg!(i64, i32, u32, u64, usize);

impl ToArg for bool {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Int(i64::from(*self))
    }
}

impl ToArg for f64 {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Real(*self)
    }
}

impl ToArg for str {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Text(self)
    }
}

impl ToArg for String {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Text(self)
    }
}

impl ToArg for [u8] {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Blob(self)
    }
}

impl ToArg for Vec<u8> {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Blob(self)
    }
}

impl<T: ToArg + ?Sized> ToArg for &T {
    fn to_arg(&self) -> Arg<'_> {
        (**self).to_arg()
    }
}

impl<T: ToArg> ToArg for Option<T> {
    fn to_arg(&self) -> Arg<'_> {
        self.as_ref().map_or(Arg::Null, ToArg::to_arg)
    }
}

impl<'a> ToArg for Arg<'a> {
    fn to_arg(&self) -> Arg<'_> {
        *self
    }
}

/// Bind a list of values: `db.execute(sql, args![id, name])`.
#[macro_export]
macro_rules! args {
    () => { &[] as &[$crate::store::sql::Arg<'_>] };
    ($($x:expr),+ $(,)?) => { &[$($crate::store::sql::ToArg::to_arg(&$x)),+] as &[$crate::store::sql::Arg<'_>] };
}

impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match *self {
            Arg::Null => ValueRef::Null,
            Arg::Int(v) => ValueRef::Integer(v),
            Arg::Real(v) => ValueRef::Real(v),
            Arg::Text(s) => ValueRef::Text(s.as_bytes()),
            Arg::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

type BoxError = Box<dyn Error + Sync + Send>;

fn mismatch(arg: &Arg<'_>, ty: &Type) -> BoxError {
    // Never the value itself: it may be a sealed secret.
    let kind = match arg {
        Arg::Null => "null",
        Arg::Int(_) => "an integer",
        Arg::Real(_) => "a number",
        Arg::Text(_) => "text",
        Arg::Blob(_) => "bytes",
    };
    format!("cannot bind {kind} to a parameter of type {ty}").into()
}

impl ToSql for Arg<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match (*self, ty) {
            (Arg::Null, _) => Ok(IsNull::Yes),
            (Arg::Int(v), &Type::INT8) => v.to_sql(ty, out),
            (Arg::Int(v), &Type::INT4) => i32::try_from(v)?.to_sql(ty, out),
            (Arg::Int(v), &Type::INT2) => i16::try_from(v)?.to_sql(ty, out),
            (Arg::Int(v), &Type::FLOAT8) => (v as f64).to_sql(ty, out),
            (Arg::Int(v), &Type::BOOL) => (v != 0).to_sql(ty, out),
            (Arg::Real(v), &Type::FLOAT8) => v.to_sql(ty, out),
            (Arg::Real(v), &Type::FLOAT4) => (v as f32).to_sql(ty, out),
            (Arg::Text(s), t) if <&str as ToSql>::accepts(t) => s.to_sql(ty, out),
            (Arg::Blob(b), &Type::BYTEA) => b.to_sql(ty, out),
            (arg, ty) => Err(mismatch(&arg, ty)),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A column value read back as `Self`.
pub trait Col: Sized {
    /// From a SQLite row.
    fn lite(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self>;
    /// From a PostgreSQL row.
    fn pg(row: &tokio_postgres::Row, i: usize) -> Result<Self, tokio_postgres::Error>;
}

/// An integer of any width PostgreSQL reports (`numeric` included: `SUM` of
/// a `bigint` column is one).
struct PgInt(i64);

impl<'a> FromSql<'a> for PgInt {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(PgInt(match *ty {
            Type::INT8 => i64::from_sql(ty, raw)?,
            Type::INT4 => i32::from_sql(ty, raw)?.into(),
            Type::INT2 => i16::from_sql(ty, raw)?.into(),
            Type::BOOL => bool::from_sql(ty, raw)?.into(),
            Type::NUMERIC => numeric_to_i64(raw)?,
            _ => return Err(format!("expected an integer column, found {ty}").into()),
        }))
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::INT8 | Type::INT4 | Type::INT2 | Type::BOOL | Type::NUMERIC)
    }
}

/// A number PostgreSQL reports as a float or an integer.
struct PgReal(f64);

impl<'a> FromSql<'a> for PgReal {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(PgReal(match *ty {
            Type::FLOAT8 => f64::from_sql(ty, raw)?,
            Type::FLOAT4 => f32::from_sql(ty, raw)?.into(),
            _ => PgInt::from_sql(ty, raw)?.0 as f64,
        }))
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::FLOAT8 | Type::FLOAT4) || PgInt::accepts(ty)
    }
}

/// An integral `numeric` in PostgreSQL's binary form: digit count, weight,
/// sign, scale, then base-10000 digits, most significant first.
fn numeric_to_i64(raw: &[u8]) -> Result<i64, BoxError> {
    let word = |i: usize| -> Result<i16, BoxError> {
        let b = raw.get(i * 2..i * 2 + 2).ok_or("truncated numeric")?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    };
    let (ndigits, weight, sign) = (word(0)? as usize, word(1)?, word(2)? as u16);
    if sign == 0xC000 {
        return Err("NaN where an integer was expected".into());
    }
    let mut value: i64 = 0;
    for k in 0..=weight.max(-1) as i64 {
        let digit = if (k as usize) < ndigits { i64::from(word(4 + k as usize)?) } else { 0 };
        value = value.checked_mul(10_000).and_then(|v| v.checked_add(digit)).ok_or("numeric out of range")?;
    }
    Ok(if sign == 0x4000 { -value } else { value })
}

macro_rules! col_via {
    ($t:ty, $pg:ident, |$v:ident| $conv:expr) => {
        impl Col for $t {
            fn lite(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self> {
                row.get(i)
            }
            fn pg(row: &tokio_postgres::Row, i: usize) -> Result<Self, tokio_postgres::Error> {
                let $v = row.try_get::<_, $pg>(i)?.0;
                Ok($conv)
            }
        }
        impl Col for Option<$t> {
            fn lite(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self> {
                row.get(i)
            }
            fn pg(row: &tokio_postgres::Row, i: usize) -> Result<Self, tokio_postgres::Error> {
                Ok(row.try_get::<_, Option<$pg>>(i)?.map(|w| {
                    let $v = w.0;
                    $conv
                }))
            }
        }
    };
}
col_via!(i64, PgInt, |v| v);
col_via!(u32, PgInt, |v| v as u32);
col_via!(u64, PgInt, |v| v as u64);
col_via!(bool, PgInt, |v| v != 0);
col_via!(f64, PgReal, |v| v);

macro_rules! col_direct {
    ($($t:ty),*) => {$(
        impl Col for $t {
            fn lite(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self> {
                row.get(i)
            }
            fn pg(row: &tokio_postgres::Row, i: usize) -> Result<Self, tokio_postgres::Error> {
                row.try_get(i)
            }
        }
    )*};
}
col_direct!(String, Option<String>, Vec<u8>, Option<Vec<u8>>);

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(words: &[i16]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_be_bytes()).collect()
    }

    #[test]
    fn integral_numerics_decode() {
        // 0: no digits.
        assert_eq!(numeric_to_i64(&numeric(&[0, 0, 0, 0])).unwrap(), 0);
        // 123456789 = 1|2345|6789, weight 2.
        assert_eq!(numeric_to_i64(&numeric(&[3, 2, 0, 0, 1, 2345, 6789])).unwrap(), 123_456_789);
        // -50000 = 5|0000 with trailing zero digit dropped, weight 1.
        assert_eq!(numeric_to_i64(&numeric(&[1, 1, 0x4000, 0, 5])).unwrap(), -50_000);
        assert!(numeric_to_i64(&numeric(&[1, 0, 0xC000u16 as i16, 0])).is_err());
        assert!(numeric_to_i64(&numeric(&[2, 9, 0, 0, 9999, 9999])).is_err(), "beyond i64");
    }
}
