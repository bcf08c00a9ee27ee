//! The parser: tokens to an untyped syntax tree, with precedence `not` > `and` > `xor` > `or`.
//!
//! It owns the grammar and the column of every node, so that the compiler can point at the
//! offending token. It does not know which fields or functions exist, nor their types; that is
//! the compiler's job.

use crate::lexer::{lex, Cidr, CmpOp, Tok, Token};
use crate::CompileError;

/// Deeper nesting than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 64;

/// A boolean expression.
#[derive(Debug)]
pub(crate) enum Ast {
    Or(Box<Ast>, Box<Ast>),
    Xor(Box<Ast>, Box<Ast>),
    And(Box<Ast>, Box<Ast>),
    Not(Box<Ast>),
    Compare {
        lhs: Operand,
        op: CmpOp,
        op_col: usize,
        rhs: Rhs,
    },
    /// An operand used as a condition on its own (`ssl`, `starts_with(…)`).
    Bare(Operand),
}

/// A value: a field, a function call or a literal.
#[derive(Debug)]
pub(crate) enum Operand {
    Field {
        name: String,
        /// `http.request.headers["name"]`: the name and its column.
        index: Option<(String, usize)>,
        col: usize,
    },
    Call {
        name: String,
        args: Vec<Operand>,
        col: usize,
    },
    Lit(Lit),
}

impl Operand {
    pub(crate) fn col(&self) -> usize {
        match self {
            Operand::Field { col, .. } | Operand::Call { col, .. } => *col,
            Operand::Lit(l) => l.col,
        }
    }
}

/// A literal and its column.
#[derive(Debug)]
pub(crate) struct Lit {
    pub value: LitValue,
    pub col: usize,
}

#[derive(Debug)]
pub(crate) enum LitValue {
    Str(String),
    Int(u64),
    Ip(Cidr),
}

impl LitValue {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            LitValue::Str(_) => "a string",
            LitValue::Int(_) => "an integer",
            LitValue::Ip(_) => "an IP address",
        }
    }
}

/// The right-hand side of a comparison.
#[derive(Debug)]
pub(crate) enum Rhs {
    One(Lit),
    Set { items: Vec<Lit>, col: usize },
}

/// Parses a whole expression.
pub(crate) fn parse(src: &str) -> Result<Ast, CompileError> {
    let mut p = Parser {
        toks: lex(src)?,
        pos: 0,
        depth: 0,
    };
    let ast = p.or()?;
    let t = p.peek();
    if t.tok != Tok::Eof {
        let hint = if t.tok == Tok::RParen {
            " (no \"(\" opened it)".to_string()
        } else {
            "; join conditions with \"and\" or \"or\"".to_string()
        };
        return Err(p.error_at(t, format!("unexpected {}{hint}", t.tok.describe())));
    }
    Ok(ast)
}

/// Parses a value expression: one operand (field, literal or call) and nothing after it.
pub(crate) fn parse_value(src: &str) -> Result<Operand, CompileError> {
    let mut p = Parser {
        toks: lex(src)?,
        pos: 0,
        depth: 0,
    };
    let value = p.operand()?;
    let t = p.peek();
    if t.tok != Tok::Eof {
        return Err(p.error_at(
            t,
            format!(
                "unexpected {} after the value; a value is one field, string or call",
                t.tok.describe()
            ),
        ));
    }
    Ok(value)
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.toks[self.pos]
    }

    fn next(&mut self) -> Token {
        let t = self.toks[self.pos].clone();
        if t.tok != Tok::Eof {
            self.pos += 1;
        }
        t
    }

    fn error_at(&self, t: &Token, message: String) -> CompileError {
        CompileError {
            column: t.col,
            message,
        }
    }

    fn expect(&mut self, want: Tok, what: &str) -> Result<Token, CompileError> {
        let t = self.next();
        if t.tok == want {
            Ok(t)
        } else {
            Err(self.error_at(&t, format!("expected {what}, found {}", t.tok.describe())))
        }
    }

    fn or(&mut self) -> Result<Ast, CompileError> {
        let mut lhs = self.xor()?;
        while self.peek().tok == Tok::Or {
            self.next();
            lhs = Ast::Or(Box::new(lhs), Box::new(self.xor()?));
        }
        Ok(lhs)
    }

    fn xor(&mut self) -> Result<Ast, CompileError> {
        let mut lhs = self.and()?;
        while self.peek().tok == Tok::Xor {
            self.next();
            lhs = Ast::Xor(Box::new(lhs), Box::new(self.and()?));
        }
        Ok(lhs)
    }

    fn and(&mut self) -> Result<Ast, CompileError> {
        let mut lhs = self.unary()?;
        while self.peek().tok == Tok::And {
            self.next();
            lhs = Ast::And(Box::new(lhs), Box::new(self.unary()?));
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Ast, CompileError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let t = self.peek().clone();
            return Err(self.error_at(&t, format!("expression nested deeper than {MAX_DEPTH} levels")));
        }
        let ast = if self.peek().tok == Tok::Not {
            self.next();
            Ast::Not(Box::new(self.unary()?))
        } else {
            self.primary()?
        };
        self.depth -= 1;
        Ok(ast)
    }

    fn primary(&mut self) -> Result<Ast, CompileError> {
        if self.peek().tok == Tok::LParen {
            let open = self.next();
            let inner = self.or()?;
            let t = self.next();
            if t.tok != Tok::RParen {
                return Err(self.error_at(
                    &t,
                    format!(
                        "expected \")\" to close the \"(\" at column {}, found {}",
                        open.col,
                        t.tok.describe()
                    ),
                ));
            }
            return Ok(inner);
        }
        let lhs = self.operand()?;
        if let Operand::Lit(l) = &lhs {
            return Err(CompileError {
                column: l.col,
                message: format!(
                    "expected a field or a function, found {}; a comparison reads field, operator, value",
                    l.value.kind()
                ),
            });
        }
        let Tok::Cmp(op) = self.peek().tok else {
            return Ok(Ast::Bare(lhs));
        };
        let op_col = self.next().col;
        let rhs = if self.peek().tok == Tok::LBrace {
            let open = self.next();
            let mut items = Vec::new();
            loop {
                let t = self.next();
                match t.tok {
                    Tok::RBrace => break,
                    Tok::Comma => continue,
                    Tok::Eof => {
                        return Err(self.error_at(
                            &t,
                            format!(
                                "unterminated set: expected \"}}\" to close the \"{{\" at column {}",
                                open.col
                            ),
                        ))
                    }
                    _ => items.push(self.literal(t)?),
                }
            }
            if items.is_empty() {
                return Err(self.error_at(&open, "empty set".into()));
            }
            Rhs::Set { items, col: open.col }
        } else {
            let t = self.next();
            Rhs::One(self.literal(t)?)
        };
        Ok(Ast::Compare { lhs, op, op_col, rhs })
    }

    fn literal(&self, t: Token) -> Result<Lit, CompileError> {
        let value = match t.tok {
            Tok::Str(s) => LitValue::Str(s),
            Tok::Int(n) => LitValue::Int(n),
            Tok::Ip(c) => LitValue::Ip(c),
            Tok::Ident(ref name) => {
                return Err(self.error_at(
                    &t,
                    format!(
                    "expected a value, found field \"{name}\"; the right side of a comparison is a literal"
                ),
                ))
            }
            ref other => {
                return Err(self.error_at(&t, format!("expected a value, found {}", other.describe())))
            }
        };
        Ok(Lit { value, col: t.col })
    }

    fn operand(&mut self) -> Result<Operand, CompileError> {
        let t = self.next();
        let name = match t.tok {
            Tok::Ident(name) => name,
            Tok::Str(_) | Tok::Int(_) | Tok::Ip(_) => return Ok(Operand::Lit(self.literal(t)?)),
            ref other => {
                return Err(self.error_at(
                    &t,
                    format!(
                        "expected a field, a function or \"(\", found {}",
                        other.describe()
                    ),
                ))
            }
        };
        match self.peek().tok {
            Tok::LParen => {
                self.next();
                let mut args = Vec::new();
                if self.peek().tok != Tok::RParen {
                    loop {
                        args.push(self.operand()?);
                        if self.peek().tok != Tok::Comma {
                            break;
                        }
                        self.next();
                    }
                }
                self.expect(Tok::RParen, &format!("\",\" or \")\" in the call to {name}()"))?;
                Ok(Operand::Call {
                    name,
                    args,
                    col: t.col,
                })
            }
            Tok::LBracket => {
                self.next();
                let key = self.next();
                let Tok::Str(key_name) = key.tok else {
                    return Err(self.error_at(
                        &key,
                        format!("expected a quoted name inside [ ], found {}", key.tok.describe()),
                    ));
                };
                self.expect(Tok::RBracket, "\"]\"")?;
                Ok(Operand::Field {
                    name,
                    index: Some((key_name, key.col)),
                    col: t.col,
                })
            }
            _ => Ok(Operand::Field {
                name,
                index: None,
                col: t.col,
            }),
        }
    }
}
