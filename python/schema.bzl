"""flatc_python: the FlatBuffers Python code of a schema, generated with Debian's flatc into one
directory (a tree artifact: the generated module list follows the schema, not this file)."""

def _flatc_python_impl(ctx):
    out = ctx.actions.declare_directory(ctx.attr.out)
    ctx.actions.run_shell(
        inputs = [ctx.file.src],
        outputs = [out],
        command = "flatc --python -o {out} {src} && touch {out}/__init__.py".format(
            out = out.path,
            src = ctx.file.src.path,
        ),
        use_default_shell_env = True,  # flatc from PATH
        mnemonic = "FlatcPython",
        progress_message = "Generating FlatBuffers Python code from %s" % ctx.file.src.short_path,
    )
    return [DefaultInfo(files = depset([out]), runfiles = ctx.runfiles(files = [out]))]

flatc_python = rule(
    implementation = _flatc_python_impl,
    attrs = {
        "src": attr.label(allow_single_file = [".fbs"], mandatory = True),
        "out": attr.string(mandatory = True, doc = "output directory, relative to the package"),
    },
)
