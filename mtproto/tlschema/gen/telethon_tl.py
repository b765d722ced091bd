#!/usr/bin/python3
"""Writes, as TL text, the schema that the installed Telethon was generated
from (Telethon 1.25.1 in Debian's python3-telethon: layer 144).

Telethon ships no .tl file, only the classes generated from one; each
class keeps its constructor id, its result type (in its docstring), its
parameters' types (in its __init__ annotations) and their wire order and
conditions (in its from_reader). This script reads those back. Object
types lose their namespace in Telethon's annotations (messages.Messages
becomes Messages); the relay decodes by constructor id, which does not
depend on those names.

Usage: python3 telethon_tl.py > api-144.tl   (run by `go generate` in
mtproto/tlschema, and checked by TestSourcesMatch there).
"""
import inspect
import zlib
import re
import sys

sys.path.insert(0, "/usr/lib/python3/dist-packages")
from telethon.tl import alltlobjects  # noqa: E402

PRIM = {
    "read_int()": "int",
    "read_long()": "long",
    "read_double()": "double",
    "read_large_int(bits=128)": "int128",
    "read_large_int(bits=256)": "int256",
    "tgread_string()": "string",
    "tgread_bytes()": "bytes",
    "tgread_bool()": "Bool",
    "tgread_date()": "int",
}

ASSIGN = re.compile(r"^\s*_(\w+) = reader\.(\w+\(.*?\))\s*$")
TRUEFLAG = re.compile(r"^\s*_(\w+) = bool\((flags\d*) & (\d+)\)\s*$")
FLAGS = re.compile(r"^\s*(flags\d*) = reader\.read_int\(\)\s*$")
COND = re.compile(r"^\s*if (flags\d*) & (\d+):\s*$")
LOOP = re.compile(r"^\s*for _ in range\(reader\.read_int\(\)\):\s*$")
ELEM = re.compile(r"^\s*_x = reader\.(\w+\(.*?\))\s*$")
VECID = re.compile(r"^\s*reader\.read_int\(\)\s*$")


class Unreadable(Exception):
    """A from_reader this script does not understand."""


def lower_first(s):
    return s[:1].lower() + s[1:]


NAMES = {}  # crc32 of a type name → the name (type_names)


def obj_type(cls, name):
    ann = inspect.signature(cls.__init__).parameters[name].annotation
    if not isinstance(ann, str):
        # An evaluated Union of the type's constructor classes (in an
        # Optional, a List).
        stack = [ann]
        while stack:
            arg = stack.pop(0)
            sub = getattr(arg, "SUBCLASS_OF_ID", None)
            if sub is not None and sub in NAMES:
                return NAMES[sub]
            stack.extend(getattr(arg, "__args__", ()) or ())
        ann = str(ann)
    m = re.search(r"Type(\w+)", ann)
    if not m:
        raise SystemExit("%s.%s: no object type in %r" % (cls.__name__, name, ann))
    return m.group(1)


def params(cls):
    src = inspect.getsource(cls.from_reader).splitlines()
    out = []
    cond = None
    vec = False  # a vector's constructor id was just read
    i = 0
    while i < len(src):
        line = src[i]
        i += 1
        if m := FLAGS.match(line):
            out.append("%s:#" % m.group(1))
            continue
        if m := TRUEFLAG.match(line):
            bit = int(m.group(3)).bit_length() - 1
            out.append("%s:%s.%d?true" % (m.group(1), m.group(2), bit))
            continue
        if m := COND.match(line):
            cond = "%s.%d?" % (m.group(1), int(m.group(2)).bit_length() - 1)
            continue
        if VECID.match(line):
            vec = True
            continue
        if m := ASSIGN.match(line):
            name, read = m.group(1), m.group(2)
            if read == "tgread_object()":
                t = "!X" if obj_type(cls, name) == "X" else obj_type(cls, name)
            elif read in PRIM:
                t = PRIM[read]
            else:
                raise SystemExit("%s: unknown read %s" % (cls.__name__, read))
            out.append("%s:%s%s" % (name, cond or "", t))
            cond = None
            continue
        if re.match(r"^\s*_(\w+) = \[\]\s*$", line):
            name = re.match(r"^\s*_(\w+) = \[\]", line).group(1)
            if not LOOP.match(src[i]):
                raise SystemExit("%s: vector without loop" % cls.__name__)
            em = ELEM.match(src[i + 1])
            if not em:
                raise Unreadable("vector element %r" % src[i + 1].strip())
            read = em.group(1)
            if read == "tgread_object()":
                elem = obj_type(cls, name)
            else:
                elem = PRIM[read]
            out.append("%s:%s%s<%s>" % (name, cond or "", "Vector" if vec else "vector", elem))
            cond, vec = None, False
            i += 2
            continue
    return out


def result(cls, function):
    """The result type: from the docstring, else (a constructor without
    parameters has none) by its SUBCLASS_OF_ID, the crc32 of the type's
    name, among the names the other classes give."""
    doc = ""
    if "__init__" in vars(cls):
        doc = inspect.getdoc(cls.__init__) or ""
    if function:
        m = re.search(r":returns ([\w.<>]+):", doc)
    else:
        m = re.search(r"Constructor for ([\w.<>]+):", doc)
    if m:
        return m.group(1)
    return None


def type_names(classes):
    names = {}
    for cls in classes:
        r = result(cls, cls.__module__.split(".")[2] == "functions")
        if r:
            names[zlib.crc32(r.encode())] = r
    # Types that only parameterless constructors have: their names as
    # the annotations spell them (namespace dropped), with each namespace.
    spaces = {""} | {cls.__module__.split(".")[3] + "." for cls in classes if len(cls.__module__.split(".")) > 3}
    for cls in classes:
        if "__init__" not in vars(cls):
            continue
        for p in inspect.signature(cls.__init__).parameters.values():
            for t in re.findall(r"Type(\w+)", str(p.annotation)):
                for ns in spaces:
                    names.setdefault(zlib.crc32((ns + t).encode()), ns + t)
    return names


def tl_name(cls):
    mod = cls.__module__.split(".")
    ns = mod[3:] if len(mod) > 3 else []
    base = cls.__name__
    if mod[2] == "functions":
        base = base[: -len("Request")]
    return ".".join(ns + [lower_first(base)])


def main():
    types, functions, skipped = [], [], []
    names = type_names(alltlobjects.tlobjects.values())
    NAMES.update(names)
    for cid, cls in sorted(alltlobjects.tlobjects.items()):
        function = cls.__module__.split(".")[2] == "functions"
        # A type no class names (MTProto's DestroyAuthKeyRes): its crc.
        res = result(cls, function) or names.get(cls.SUBCLASS_OF_ID) or "Type_%08x" % cls.SUBCLASS_OF_ID
        try:
            ps = params(cls)
        except Unreadable as e:
            # MTProto's own types (future_salts' bare vector): the schema
            # of MTProto comes from gotd's mt.tl; the Go side checks that
            # only such ids are skipped.
            skipped.append("// skipped %s#%08x: %s" % (tl_name(cls), cid, e))
            continue
        line = "%s#%08x %s = %s;" % (tl_name(cls), cid, " ".join(ps), res)
        line = line.replace("  ", " ")
        (functions if function else types).append(line)
    print("// Generated by mtproto/tlschema/gen/telethon_tl.py from Telethon %s" % "1.25.1 (Debian python3-telethon)")
    print("// LAYER %d" % alltlobjects.LAYER)
    print("\n".join(skipped))
    print("\n".join(types))
    print("---functions---")
    print("\n".join(functions))


main()
