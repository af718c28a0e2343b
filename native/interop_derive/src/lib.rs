//! `#[derive(IntoGleam, FromGleam)]`: Rust structs and enums in the shapes
//! Gleam gives its custom types on Erlang, for `tally_interop`.
//!
//! * a struct `UsageEvent { id, value }` is the record `{usage_event, Id, Value}`
//!   (fields in declaration order, the tag is the type's name in Gleam's
//!   snake_case); a struct without fields is the bare atom;
//! * an enum is one Gleam type with a constructor per variant: `Hour` is the
//!   atom `hour`, `Overlap { period, count }` is `{overlap, Period, Count}`;
//! * fields use their own `IntoGleam`/`FromGleam`, so `Option`, `Result`,
//!   `Vec`, `()`, `String` and integers (bignums past 64 bits) nest freely.
//!
//! Attributes, all optional, under `#[gleam(...)]`:
//!
//! | where | attribute | meaning |
//! |---|---|---|
//! | struct, variant | `tag = "name"` | the atom, when it is not the name in snake_case |
//! | struct, enum | `expected = "a Thing"` | the text of a decode error for this type (default `a Name` / `an Name`) |
//! | field | `bit_array` | a `Vec<u8>` (or anything `Into<Vec<u8>>`) as a Gleam `BitArray`, not a `List(Int)` |
//! | field | `check = "path::to_fn"` | after decoding, `fn(&T) -> Result<(), DecodeError>` must accept the value |
//! | field | `expected = "text"` | any decode failure of this field reports this text |
//!
//! Each derive also implements `gleam_atoms`, which adds every atom the type
//! can put in (or read from) a term, its fields' included, to an
//! `Atoms` set: the vocabulary is known from the types, never scanned.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as Tokens};
use quote::{format_ident, quote};
use syn::spanned::Spanned;
use syn::{parse_macro_input, Data, DeriveInput, Error, Fields, Ident, LitStr};

#[proc_macro_derive(IntoGleam, attributes(gleam))]
pub fn derive_into_gleam(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input, Direction::Into)
        .unwrap_or_else(Error::into_compile_error)
        .into()
}

#[proc_macro_derive(FromGleam, attributes(gleam))]
pub fn derive_from_gleam(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input, Direction::From)
        .unwrap_or_else(Error::into_compile_error)
        .into()
}

#[derive(Clone, Copy, PartialEq)]
enum Direction {
    Into,
    From,
}

/// Gleam's own rule (compiler-core `strings::to_snake_case`): every
/// uppercase letter starts a word, `_` separates words.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut boundary = true;
    for c in name.chars() {
        if c == '_' {
            boundary = true;
            continue;
        }
        if c.is_uppercase() {
            boundary = true;
        }
        if boundary {
            if !out.is_empty() {
                out.push('_');
            }
            boundary = false;
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

fn default_expected(name: &str) -> String {
    let article = match name.chars().next() {
        Some('A' | 'E' | 'I' | 'O') => "an",
        _ => "a",
    };
    format!("{article} {name}")
}

#[derive(Default)]
struct Attrs {
    tag: Option<LitStr>,
    expected: Option<LitStr>,
    check: Option<syn::ExprPath>,
    bit_array: bool,
}

fn attrs(list: &[syn::Attribute]) -> syn::Result<Attrs> {
    let mut out = Attrs::default();
    for attr in list.iter().filter(|a| a.path().is_ident("gleam")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("tag") {
                let tag: LitStr = meta.value()?.parse()?;
                let text = tag.value();
                let valid = text.starts_with(|c: char| c.is_ascii_lowercase())
                    && text
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                if !valid {
                    return Err(meta.error("a Gleam tag is lowercase letters, digits and `_`"));
                }
                out.tag = Some(tag);
            } else if meta.path.is_ident("expected") {
                out.expected = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("check") {
                let path: LitStr = meta.value()?.parse()?;
                out.check = Some(path.parse()?);
            } else if meta.path.is_ident("bit_array") {
                out.bit_array = true;
            } else {
                return Err(meta.error("unknown gleam attribute (tag, expected, check, bit_array)"));
            }
            Ok(())
        })?;
    }
    Ok(out)
}

/// One constructor: a struct, or one variant of an enum.
struct Constructor {
    /// `Self` or `Self::Variant`.
    path: Tokens,
    /// The Rust name, for error paths (`UsageEvent`, `Overlap`).
    name: String,
    tag: String,
    fields: Vec<Field>,
    /// `{ .. }`, `( .. )` or nothing.
    style: Style,
}

impl Constructor {
    /// `Path { a: field_0, .. }`, `Path(field_0, ..)` or `Path`: the
    /// pattern that takes a value apart, and the expression that builds one.
    fn with_bindings(&self) -> Tokens {
        let path = &self.path;
        let bindings = self.fields.iter().map(|f| &f.binding);
        match self.style {
            Style::Named => {
                let members = self.fields.iter().map(|f| &f.member);
                quote!(#path { #( #members: #bindings ),* })
            }
            Style::Unnamed => quote!(#path ( #( #bindings ),* )),
            Style::Unit => quote!(#path),
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Style {
    Named,
    Unnamed,
    Unit,
}

struct Field {
    member: syn::Member,
    /// A binding for the field in patterns.
    binding: Ident,
    /// The field's name in errors: its Rust name, or its position.
    label: String,
    ty: syn::Type,
    attrs: Attrs,
}

fn constructor(path: Tokens, ident: &Ident, fields: &Fields, attrs: &Attrs) -> syn::Result<Constructor> {
    let name = ident.to_string();
    let tag = match &attrs.tag {
        Some(t) => t.value(),
        None => snake_case(&name),
    };
    let style = match fields {
        Fields::Named(_) => Style::Named,
        Fields::Unnamed(_) => Style::Unnamed,
        Fields::Unit => Style::Unit,
    };
    let fields = fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let (member, label) = match &f.ident {
                Some(id) => (syn::Member::Named(id.clone()), id.to_string()),
                None => (syn::Member::Unnamed(syn::Index::from(i)), i.to_string()),
            };
            Ok(Field {
                member,
                binding: format_ident!("field_{}", i),
                label,
                ty: f.ty.clone(),
                attrs: self::attrs(&f.attrs)?,
            })
        })
        .collect::<syn::Result<Vec<_>>>()?;
    Ok(Constructor {
        path,
        name,
        tag,
        fields,
        style,
    })
}

fn expand(input: &DeriveInput, dir: Direction) -> syn::Result<Tokens> {
    let top = attrs(&input.attrs)?;
    let type_name = input.ident.to_string();
    let expected = match &top.expected {
        Some(e) => e.value(),
        None => default_expected(&type_name),
    };
    let constructors = match &input.data {
        Data::Struct(s) => vec![constructor(quote!(Self), &input.ident, &s.fields, &top)?],
        Data::Enum(e) => {
            if top.tag.is_some() {
                return Err(Error::new(
                    input.ident.span(),
                    "an enum's tags are its variants': put `tag` on a variant",
                ));
            }
            e.variants
                .iter()
                .map(|v| {
                    let ident = &v.ident;
                    constructor(quote!(Self::#ident), ident, &v.fields, &attrs(&v.attrs)?)
                })
                .collect::<syn::Result<Vec<_>>>()?
        }
        Data::Union(u) => return Err(Error::new(u.union_token.span(), "a union has no Gleam shape")),
    };
    for c in &constructors {
        for f in &c.fields {
            if dir == Direction::From && f.attrs.check.is_some() && f.attrs.bit_array {
                return Err(Error::new(
                    f.ty.span(),
                    "`check` and `bit_array` do not go together",
                ));
            }
        }
    }

    let trait_name = match dir {
        Direction::Into => quote!(::tally_interop::IntoGleam),
        Direction::From => quote!(::tally_interop::FromGleam),
    };
    let ident = &input.ident;
    let mut generics = input.generics.clone();
    for p in generics.type_params_mut() {
        p.bounds.push(syn::parse_quote!(#trait_name));
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();

    let body = match dir {
        Direction::Into => into_body(&constructors),
        Direction::From => from_body(&constructors, &type_name, &expected),
    };
    let atoms = atoms_body(&constructors, &trait_name);
    Ok(quote! {
        impl #impl_generics #trait_name for #ident #ty_generics #where_clause {
            #body
            fn gleam_atoms(atoms: &mut ::tally_interop::Atoms) {
                #atoms
            }
        }
    })
}

fn atoms_body(constructors: &[Constructor], trait_name: &Tokens) -> Tokens {
    let tags = constructors.iter().map(|c| &c.tag);
    let field_types = constructors
        .iter()
        .flat_map(|c| c.fields.iter())
        .filter(|f| !f.attrs.bit_array)
        .map(|f| &f.ty);
    quote! {
        // A recursive type adds its atoms once and stops.
        if atoms.enter(::core::any::type_name::<Self>()) {
            #( atoms.add(#tags); )*
            #( <#field_types as #trait_name>::gleam_atoms(atoms); )*
        }
    }
}

fn into_body(constructors: &[Constructor]) -> Tokens {
    let arms = constructors.iter().map(|c| {
        let tag = &c.tag;
        let pattern = c.with_bindings();
        let values = c.fields.iter().map(|f| {
            let b = &f.binding;
            if f.attrs.bit_array {
                quote!(::tally_interop::Value::Binary(::core::convert::Into::<::std::vec::Vec<u8>>::into(#b)))
            } else {
                quote!(::tally_interop::IntoGleam::into_gleam(#b))
            }
        });
        quote! {
            #pattern => ::tally_interop::Value::record(#tag, ::std::vec![ #( #values ),* ]),
        }
    });
    quote! {
        fn into_gleam(self) -> ::tally_interop::Value {
            match self {
                #( #arms )*
            }
        }
    }
}

/// Decodes the fields of one constructor from `fields` (a slice of terms).
fn construct(c: &Constructor, type_name: &str) -> Tokens {
    let owner = if c.path.to_string() == "Self" {
        type_name.to_string()
    } else {
        format!("{type_name}::{}", c.name)
    };
    let decoded = c.fields.iter().enumerate().map(|(i, f)| {
        let ty = &f.ty;
        let label = &f.label;
        let decode = if f.attrs.bit_array {
            quote! {
                match fields[#i].as_binary() {
                    ::core::option::Option::Some(bytes) => ::core::result::Result::Ok(::core::convert::From::from(bytes.to_vec())),
                    ::core::option::Option::None => ::core::result::Result::Err(::tally_interop::expected("a BitArray")),
                }
            }
        } else {
            quote!(<#ty as ::tally_interop::FromGleam>::from_gleam(&fields[#i]))
        };
        let checked = match &f.attrs.check {
            Some(check) => quote! {
                (#decode).and_then(|value: #ty| { #check(&value)?; ::core::result::Result::Ok(value) })
            },
            None => decode,
        };
        let reword = match &f.attrs.expected {
            Some(text) => quote!(.with_expected(#text)),
            None => quote!(),
        };
        quote! {
            match #checked {
                ::core::result::Result::Ok(value) => value,
                ::core::result::Result::Err(e) => {
                    return ::core::result::Result::Err(e #reword .in_field(#owner, #label))
                }
            }
        }
    });
    let bindings: Vec<_> = c.fields.iter().map(|f| &f.binding).collect();
    let build = c.with_bindings();
    quote! {
        #( let #bindings = #decoded; )*
        ::core::result::Result::Ok(#build)
    }
}

fn from_body(constructors: &[Constructor], type_name: &str, expected: &str) -> Tokens {
    let (units, records): (Vec<_>, Vec<_>) = constructors.iter().partition(|c| c.fields.is_empty());
    let unit_arms = units.iter().map(|c| {
        let tag = &c.tag;
        let path = &c.path;
        quote!(#tag => ::core::result::Result::Ok(#path),)
    });
    let record_arms = records.iter().map(|c| {
        let tag = &c.tag;
        let arity = c.fields.len();
        let build = construct(c, type_name);
        quote! {
            (#tag, #arity) => {
                let fields = &items[1..];
                #build
            }
        }
    });
    let expected = LitStr::new(expected, Span::call_site());
    quote! {
        fn from_gleam(term: &::tally_interop::etf::Term) -> ::core::result::Result<Self, ::tally_interop::DecodeError> {
            let wrong = || ::tally_interop::expected(#expected);
            match term {
                ::tally_interop::etf::Term::Atom(name) => match name.as_str() {
                    #( #unit_arms )*
                    _ => ::core::result::Result::Err(wrong()),
                },
                ::tally_interop::etf::Term::Tuple(items) if !items.is_empty() => {
                    match (items[0].as_atom().unwrap_or(""), items.len() - 1) {
                        #( #record_arms )*
                        _ => ::core::result::Result::Err(wrong()),
                    }
                }
                _ => ::core::result::Result::Err(wrong()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_is_gleams() {
        assert_eq!(snake_case("UsageEvent"), "usage_event");
        assert_eq!(snake_case("S3AccessLog"), "s3_access_log");
        assert_eq!(snake_case("P95Rate"), "p95_rate");
        assert_eq!(snake_case("HTTPError"), "h_t_t_p_error");
        assert_eq!(snake_case("Hour"), "hour");
    }

    #[test]
    fn expected_texts_take_an_article() {
        assert_eq!(default_expected("Window"), "a Window");
        assert_eq!(default_expected("AggregatorConfig"), "an AggregatorConfig");
    }
}
