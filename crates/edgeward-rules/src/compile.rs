//! The compiler: type-checks the syntax tree and lowers it to a program the evaluator runs
//! without allocating.
//!
//! It owns the typing rules (which operator applies to which type), the function table, and the
//! precomputation that makes evaluation cheap: case-folded literals, regexes compiled once,
//! sorted string / integer sets and merged IP ranges. It does not read requests (`eval.rs`).

use crate::fields::{self, Field, StrField, Type};
use crate::lexer::{Cidr, CmpOp};
use crate::parser::{Ast, Lit, LitValue, Operand, Rhs};
use crate::CompileError;
use regex::bytes::{Regex, RegexBuilder};
use std::cmp::Ordering;
use std::net::IpAddr;

/// Compiled regexes beyond this size are refused (a rule is not a place for a huge automaton).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// The functions, for lookup and suggestions.
const FUNCTIONS: &[&str] = &["lower", "upper", "starts_with", "ends_with", "len"];

/// ASCII case mapping applied to a string field by `lower()` / `upper()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Case {
    Exact,
    Lower,
    Upper,
}

impl Case {
    #[inline]
    pub(crate) fn apply(self, b: u8) -> u8 {
        match self {
            Case::Exact => b,
            Case::Lower => b.to_ascii_lowercase(),
            Case::Upper => b.to_ascii_uppercase(),
        }
    }

    /// A byte this mapping never produces, if `lit` contains one (so `lit` can never match).
    fn impossible_in(self, lit: &str) -> Option<char> {
        lit.chars().find(|c| match self {
            Case::Exact => false,
            Case::Lower => c.is_ascii_uppercase(),
            Case::Upper => c.is_ascii_lowercase(),
        })
    }
}

/// Which orderings an `lt`/`le`/`gt`/`ge` comparison accepts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Accept {
    less: bool,
    equal: bool,
    greater: bool,
}

impl Accept {
    fn of(op: CmpOp) -> Accept {
        let (less, equal, greater) = match op {
            CmpOp::Lt => (true, false, false),
            CmpOp::Le => (true, true, false),
            CmpOp::Gt => (false, false, true),
            CmpOp::Ge => (false, true, true),
            // eq, and ne (compiled as not-eq)
            _ => (false, true, false),
        };
        Accept { less, equal, greater }
    }

    #[inline]
    pub(crate) fn test(self, ord: Ordering) -> bool {
        match ord {
            Ordering::Less => self.less,
            Ordering::Equal => self.equal,
            Ordering::Greater => self.greater,
        }
    }
}

/// The compiled program.
#[derive(Clone, Debug)]
pub(crate) enum Node {
    All(Box<[Node]>),
    Any(Box<[Node]>),
    Xor(Box<[Node; 2]>),
    Not(Box<Node>),
    Ssl,
    Str {
        field: StrField,
        case: Case,
        test: StrTest,
    },
    Int {
        src: IntSrc,
        test: IntTest,
    },
    Ip(IpSet),
}

/// A test on a string value. Literals are stored as the case mapping would produce them.
#[derive(Clone, Debug)]
pub(crate) enum StrTest {
    Eq(Box<[u8]>),
    Order(Box<[u8]>, Accept),
    /// An escaped literal; ASCII-case-insensitive when the field is case-mapped.
    Contains(Regex),
    Matches(Regex),
    /// Sorted, deduplicated.
    In(Box<[Box<[u8]>]>),
    StartsWith(Box<[u8]>),
    EndsWith(Box<[u8]>),
}

/// Where an integer comes from.
#[derive(Clone, Debug)]
pub(crate) enum IntSrc {
    BodySize,
    /// `http.response.code`.
    ResponseCode,
    Len(StrField),
}

#[derive(Clone, Debug)]
pub(crate) enum IntTest {
    Order(u64, Accept),
    /// Sorted, deduplicated.
    In(Box<[u64]>),
}

/// IP ranges, sorted and merged, per family.
#[derive(Clone, Debug, Default)]
pub(crate) struct IpSet {
    pub v4: Box<[(u32, u32)]>,
    pub v6: Box<[(u128, u128)]>,
}

/// A typed operand.
enum Typed {
    Str(StrField, Case),
    Int(IntSrc),
    Ip,
    Bool(Node),
}

impl Typed {
    fn ty(&self) -> Type {
        match self {
            Typed::Str(..) => Type::Str,
            Typed::Int(_) => Type::Int,
            Typed::Ip => Type::Ip,
            Typed::Bool(_) => Type::Bool,
        }
    }
}

fn err(column: usize, message: impl Into<String>) -> CompileError {
    CompileError {
        column,
        message: message.into(),
    }
}

/// Refuses `http.response.code` in an expression that runs before there is a response.
pub(crate) fn refuse_response_code(ast: &Ast) -> Result<(), CompileError> {
    fn operand(op: &Operand) -> Result<(), CompileError> {
        match op {
            Operand::Field { name, col, .. } if name == fields::RESPONSE_CODE => Err(err(
                *col,
                format!(
                    "{} is only available in custom error rules, which run once there is a response",
                    fields::RESPONSE_CODE
                ),
            )),
            Operand::Call { args, .. } => args.iter().try_for_each(operand),
            _ => Ok(()),
        }
    }
    match ast {
        Ast::Or(a, b) | Ast::And(a, b) | Ast::Xor(a, b) => {
            refuse_response_code(a)?;
            refuse_response_code(b)
        }
        Ast::Not(a) => refuse_response_code(a),
        Ast::Bare(op) | Ast::Compare { lhs: op, .. } => operand(op),
    }
}

/// Type-checks and lowers an expression.
pub(crate) fn compile(ast: Ast) -> Result<Node, CompileError> {
    Ok(match ast {
        Ast::Or(a, b) => flatten(compile(*a)?, compile(*b)?, true),
        Ast::And(a, b) => flatten(compile(*a)?, compile(*b)?, false),
        Ast::Xor(a, b) => Node::Xor(Box::new([compile(*a)?, compile(*b)?])),
        Ast::Not(a) => Node::Not(Box::new(compile(*a)?)),
        Ast::Bare(op) => match operand(&op)? {
            Typed::Bool(node) => node,
            t => {
                return Err(err(
                    op.col(),
                    format!(
                        "{} is {}, not a condition; compare it (for example with \"eq\")",
                        describe(&op),
                        t.ty().name()
                    ),
                ))
            }
        },
        Ast::Compare { lhs, op, op_col, rhs } => compare(&lhs, op, op_col, rhs)?,
    })
}

/// Joins two nodes under `or` (`any`) or `and` (`all`), merging nested chains.
fn flatten(a: Node, b: Node, any: bool) -> Node {
    let mut out = Vec::new();
    for n in [a, b] {
        match n {
            Node::Any(ns) if any => out.extend(ns.into_vec()),
            Node::All(ns) if !any => out.extend(ns.into_vec()),
            n => out.push(n),
        }
    }
    if any {
        Node::Any(out.into())
    } else {
        Node::All(out.into())
    }
}

/// How an operand reads in a message: the field name or `name()`.
fn describe(op: &Operand) -> String {
    match op {
        Operand::Field {
            name,
            index: Some((key, _)),
            ..
        } => format!("{name}[\"{key}\"]"),
        Operand::Field { name, .. } => name.clone(),
        Operand::Call { name, .. } => format!("{name}()"),
        Operand::Lit(l) => l.value.kind().to_string(),
    }
}

fn operand(op: &Operand) -> Result<Typed, CompileError> {
    match op {
        Operand::Field { name, index, col } => field(name, index, *col),
        Operand::Call { name, args, col } => call(name, args, *col),
        Operand::Lit(l) => Err(err(
            l.col,
            format!("expected a field or a function, found {}", l.value.kind()),
        )),
    }
}

fn field(name: &str, index: &Option<(String, usize)>, col: usize) -> Result<Typed, CompileError> {
    let f = match (name, index) {
        (fields::HEADERS, Some((key, _))) => Field::Str(StrField::Header(key.to_ascii_lowercase().into())),
        (fields::HEADERS, None) => {
            return Err(err(
                col,
                format!(
                    "{} needs a header name, as in {}[\"user-agent\"]",
                    fields::HEADERS,
                    fields::HEADERS
                ),
            ))
        }
        (_, Some((_, key_col))) => {
            return Err(err(
                *key_col - 1,
                format!("field \"{name}\" cannot be indexed with [ ]"),
            ))
        }
        _ => fields::lookup(name).ok_or_else(|| {
            let hint = fields::suggest(name, fields::NAMES)
                .map(|s| format!(" (did you mean \"{s}\"?)"))
                .unwrap_or_default();
            err(col, format!("unknown field \"{name}\"{hint}"))
        })?,
    };
    Ok(match f {
        Field::Str(s) => Typed::Str(s, Case::Exact),
        Field::BodySize => Typed::Int(IntSrc::BodySize),
        Field::ResponseCode => Typed::Int(IntSrc::ResponseCode),
        Field::IpSrc => Typed::Ip,
        Field::Ssl => Typed::Bool(Node::Ssl),
    })
}

fn call(name: &str, args: &[Operand], col: usize) -> Result<Typed, CompileError> {
    let arity = match name {
        "lower" | "upper" | "len" => 1,
        "starts_with" | "ends_with" => 2,
        _ => {
            let hint = fields::suggest(name, FUNCTIONS)
                .map(|s| format!(" (did you mean \"{s}\"?)"))
                .unwrap_or_default();
            return Err(err(col, format!("unknown function \"{name}\"{hint}")));
        }
    };
    if args.len() != arity {
        return Err(err(
            col,
            format!(
                "{name}() takes {arity} argument{}, found {}",
                if arity == 1 { "" } else { "s" },
                args.len()
            ),
        ));
    }
    let (field, case) = match operand(&args[0])? {
        Typed::Str(f, c) => (f, c),
        t => {
            return Err(err(
                args[0].col(),
                format!(
                    "{name}() needs a string field, but {} is {}",
                    describe(&args[0]),
                    t.ty().name()
                ),
            ))
        }
    };
    Ok(match name {
        "lower" => Typed::Str(field, Case::Lower),
        "upper" => Typed::Str(field, Case::Upper),
        "len" => Typed::Int(IntSrc::Len(field)),
        _ => {
            let Operand::Lit(Lit {
                value: LitValue::Str(s),
                col: lit_col,
            }) = &args[1]
            else {
                return Err(err(
                    args[1].col(),
                    format!("{name}() needs a string literal as its second argument"),
                ));
            };
            let lit = cased_literal(s, case, *lit_col, &args[0])?;
            let test = if name == "starts_with" {
                StrTest::StartsWith(lit)
            } else {
                StrTest::EndsWith(lit)
            };
            Typed::Bool(Node::Str { field, case, test })
        }
    })
}

/// A literal compared with a case-mapped field; refused if the mapping can never produce it.
fn cased_literal(s: &str, case: Case, col: usize, lhs: &Operand) -> Result<Box<[u8]>, CompileError> {
    if let Some(c) = case.impossible_in(s) {
        let (fname, fix) = match case {
            Case::Lower => ("lower", s.to_ascii_lowercase()),
            _ => ("upper", s.to_ascii_uppercase()),
        };
        return Err(err(
            col,
            format!(
                "\"{s}\" can never match {fname}({}): it contains {c:?}; write \"{fix}\"",
                describe_arg(lhs)
            ),
        ));
    }
    Ok(s.as_bytes().into())
}

/// The field inside a `lower(...)`/`upper(...)` call, for messages.
fn describe_arg(op: &Operand) -> String {
    match op {
        Operand::Call { args, .. } if !args.is_empty() => describe_arg(&args[0]),
        other => describe(other),
    }
}

fn compare(lhs: &Operand, op: CmpOp, op_col: usize, rhs: Rhs) -> Result<Node, CompileError> {
    let typed = operand(lhs)?;
    let ty = typed.ty();
    let applies = match ty {
        Type::Str => true,
        Type::Int => !matches!(op, CmpOp::Contains | CmpOp::Matches),
        Type::Ip => matches!(op, CmpOp::Eq | CmpOp::Ne | CmpOp::In),
        Type::Bool => false,
    };
    if !applies {
        let hint = match ty {
            Type::Ip => "; use \"eq\" or \"in {…}\"",
            Type::Bool => "; use it on its own (or with \"not\")",
            _ => "",
        };
        return Err(err(
            op_col,
            format!(
                "\"{}\" does not apply to {}, which is {}{hint}",
                op.word(),
                describe(lhs),
                ty.name()
            ),
        ));
    }
    let items = match (op, rhs) {
        (CmpOp::In, Rhs::Set { items, .. }) => items,
        (CmpOp::In, Rhs::One(l)) => {
            return Err(err(l.col, "\"in\" takes a set in braces, as in in {\"a\" \"b\"}"))
        }
        (_, Rhs::Set { col, .. }) => {
            return Err(err(
                col,
                format!("a set {{…}} goes with \"in\", not \"{}\"", op.word()),
            ))
        }
        (_, Rhs::One(l)) => vec![l],
    };
    for l in &items {
        let ok = matches!(
            (typed.ty(), &l.value),
            (Type::Str, LitValue::Str(_)) | (Type::Int, LitValue::Int(_)) | (Type::Ip, LitValue::Ip(_))
        );
        if !ok {
            return Err(err(
                l.col,
                format!(
                    "cannot compare {} ({}) with {}",
                    describe(lhs),
                    ty.name(),
                    l.value.kind()
                ),
            ));
        }
    }
    match typed {
        Typed::Str(field, case) => str_compare(lhs, field, case, op, items).map(|n| negate(op, n)),
        Typed::Int(src) => {
            let mut ints = items.iter().map(|l| match l.value {
                LitValue::Int(n) => n,
                _ => unreachable!("checked above"),
            });
            let test = match op {
                CmpOp::In => IntTest::In(sorted(ints.collect()).into()),
                _ => IntTest::Order(ints.next().expect("one literal"), Accept::of(op)),
            };
            Ok(negate(op, Node::Int { src, test }))
        }
        Typed::Ip => Ok(negate(op, Node::Ip(ip_set(&items)))),
        Typed::Bool(_) => unreachable!("refused above"),
    }
}

/// `ne` compiles as the negation of `eq`.
fn negate(op: CmpOp, n: Node) -> Node {
    if op == CmpOp::Ne {
        Node::Not(Box::new(n))
    } else {
        n
    }
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort_unstable();
    v.dedup();
    v
}

fn str_compare(
    lhs: &Operand,
    field: StrField,
    case: Case,
    op: CmpOp,
    items: Vec<Lit>,
) -> Result<Node, CompileError> {
    let mut strs = items.into_iter().map(|l| match l.value {
        LitValue::Str(s) => (s, l.col),
        _ => unreachable!("checked by compare"),
    });
    let test = if op == CmpOp::In {
        let set = strs
            .map(|(s, col)| cased_literal(&s, case, col, lhs))
            .collect::<Result<Vec<_>, _>>()?;
        StrTest::In(sorted(set).into())
    } else {
        let (s, col) = strs.next().expect("one literal");
        match op {
            CmpOp::Eq | CmpOp::Ne => StrTest::Eq(cased_literal(&s, case, col, lhs)?),
            CmpOp::Contains => {
                cased_literal(&s, case, col, lhs)?;
                StrTest::Contains(regex(&regex::escape(&s), case != Case::Exact, col)?)
            }
            CmpOp::Matches => StrTest::Matches(regex(&s, false, col)?),
            _ => StrTest::Order(s.into_bytes().into(), Accept::of(op)),
        }
    };
    Ok(Node::Str { field, case, test })
}

fn regex(pattern: &str, ascii_case_insensitive: bool, col: usize) -> Result<Regex, CompileError> {
    let mut b = RegexBuilder::new(pattern);
    b.size_limit(REGEX_SIZE_LIMIT);
    if ascii_case_insensitive {
        b.case_insensitive(true).unicode(false);
    }
    b.build().map_err(|e| {
        let text = e.to_string();
        // regex's syntax errors span several lines (pattern, caret); keep the "error:" line.
        let detail = text
            .lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix("error: "))
            .unwrap_or(text.lines().last().unwrap_or(""))
            .trim()
            .to_string();
        err(col, format!("invalid regular expression \"{pattern}\": {detail}"))
    })
}

/// Turns addresses and CIDRs into sorted, merged ranges per family.
fn ip_set(items: &[Lit]) -> IpSet {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for l in items {
        let LitValue::Ip(Cidr { addr, prefix }) = l.value else {
            unreachable!("checked by compare");
        };
        match addr {
            IpAddr::V4(a) => {
                let host = u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
                let start = u32::from(a) & !host;
                v4.push((start, start | host));
            }
            IpAddr::V6(a) => {
                let host = u128::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
                let start = u128::from(a) & !host;
                v6.push((start, start | host));
            }
        }
    }
    IpSet {
        v4: merge(v4).into(),
        v6: merge(v6).into(),
    }
}

fn merge<T: Ord + Copy>(mut ranges: Vec<(T, T)>) -> Vec<(T, T)> {
    ranges.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(ranges.len());
    for (s, e) in ranges {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}
