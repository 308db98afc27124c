/* test_filter.c — the EventBridge pattern language: every operator, the edge cases, errors with paths,
 * explanations, allocation failures. Tables first: one line per case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "log.h"
#include "util.h"

struct mcase {
    const char *pattern; /* one pattern object, or an array of them */
    const char *record;
    bool match;
};

static const struct mcase match_cases[] = {
    /* exact strings, case rules */
    {"{\"source\":[\"aws.ec2\"]}", "{\"source\":\"aws.ec2\"}", true},
    {"{\"source\":[\"aws.ec2\"]}", "{\"source\":\"aws.EC2\"}", false},
    {"{\"source\":[\"a\",\"b\"]}", "{\"source\":\"b\"}", true},
    {"{\"source\":[\"aws.ec2\"]}", "{}", false},
    {"{\"Source\":[\"x\"]}", "{\"source\":\"x\"}", false},
    {"{\"source\":[\"x\"]}", "{\"source\":\"x\",\"other\":1}", true},
    /* numbers: exact match compares values; types never mix */
    {"{\"n\":[300]}", "{\"n\":300}", true},
    {"{\"n\":[300]}", "{\"n\":300.0}", true},
    {"{\"n\":[3.0e2]}", "{\"n\":300}", true},
    {"{\"n\":[300]}", "{\"n\":301}", false},
    {"{\"n\":[300]}", "{\"n\":\"300\"}", false},
    {"{\"n\":[\"300\"]}", "{\"n\":300}", false},
    {"{\"n\":[-0.5]}", "{\"n\":-0.5}", true},
    /* booleans, null, empty string, missing */
    {"{\"b\":[true]}", "{\"b\":true}", true},
    {"{\"b\":[true]}", "{\"b\":\"true\"}", false},
    {"{\"b\":[true]}", "{\"b\":1}", false},
    {"{\"b\":[false]}", "{\"b\":false}", true},
    {"{\"b\":[false]}", "{\"b\":null}", false},
    {"{\"x\":[null]}", "{\"x\":null}", true},
    {"{\"x\":[null]}", "{}", false},
    {"{\"x\":[null]}", "{\"x\":\"\"}", false},
    {"{\"x\":[null]}", "{\"x\":\"null\"}", false},
    {"{\"x\":[\"\"]}", "{\"x\":\"\"}", true},
    {"{\"x\":[\"\"]}", "{\"x\":null}", false},
    {"{\"x\":[\"\"]}", "{}", false},
    {"{\"x\":[\"\"]}", "{\"x\":\" \"}", false},
    /* prefix, suffix, with and without case */
    {"{\"t\":[{\"prefix\":\"2017-10-02\"}]}", "{\"t\":\"2017-10-02T18:43:48Z\"}", true},
    {"{\"t\":[{\"prefix\":\"2017-10-02\"}]}", "{\"t\":\"2017-10-03T00:00:00Z\"}", false},
    {"{\"t\":[{\"prefix\":\"2017\"}]}", "{\"t\":2017}", false},
    {"{\"t\":[{\"prefix\":\"abc\"}]}", "{\"t\":\"ab\"}", false},
    {"{\"t\":[{\"prefix\":\"\"}]}", "{\"t\":\"\"}", true},
    {"{\"f\":[{\"suffix\":\".png\"}]}", "{\"f\":\"a.png\"}", true},
    {"{\"f\":[{\"suffix\":\".png\"}]}", "{\"f\":\"a.PNG\"}", false},
    {"{\"f\":[{\"suffix\":\".png\"}]}", "{\"f\":\"png\"}", false},
    {"{\"f\":[{\"suffix\":{\"equals-ignore-case\":\".png\"}}]}", "{\"f\":\"A.PnG\"}", true},
    {"{\"f\":[{\"suffix\":{\"equals-ignore-case\":\".png\"}}]}", "{\"f\":\"a.jpg\"}", false},
    {"{\"s\":[{\"prefix\":{\"equals-ignore-case\":\"EventB\"}}]}", "{\"s\":\"eventbridge\"}", true},
    {"{\"s\":[{\"prefix\":{\"equals-ignore-case\":\"EventB\"}}]}", "{\"s\":\"event\"}", false},
    /* equals-ignore-case, unicode */
    {"{\"n\":[{\"equals-ignore-case\":\"alice\"}]}", "{\"n\":\"ALICE\"}", true},
    {"{\"n\":[{\"equals-ignore-case\":\"alice\"}]}", "{\"n\":\"alicia\"}", false},
    {"{\"n\":[{\"equals-ignore-case\":\"alice\"}]}", "{\"n\":null}", false},
    {"{\"n\":[{\"equals-ignore-case\":\"\xc3\x89\x43OLE\"}]}", "{\"n\":\"\xc3\xa9\x63ole\"}", true},
    {"{\"n\":[{\"equals-ignore-case\":\"\xce\xa3\xce\x9f\xce\xa6\xce\x99\xce\x91\"}]}",
     "{\"n\":\"\xcf\x83\xce\xbf\xcf\x86\xce\xb9\xce\xb1\"}", true},
    {"{\"n\":[{\"equals-ignore-case\":\"\xd0\x9c\xd0\x9e\xd0\xa1\xd0\x9a\xd0\x92\xd0\x90\"}]}",
     "{\"n\":\"\xd0\xbc\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0\"}", true},
    {"{\"n\":[{\"equals-ignore-case\":\"\xc5\x81\xc3\x93\x44\xc5\xb9\"}]}",
     "{\"n\":\"\xc5\x82\xc3\xb3\x64\xc5\xba\"}", true},
    {"{\"n\":[{\"equals-ignore-case\":\"e\"}]}", "{\"n\":\"\xc3\xa9\"}", false},
    /* equals-ignore-case is Unicode simple case folding, also where UTF-8 lengths differ:
     * U+023A (2 bytes) and U+2C65 (3 bytes); U+212A KELVIN SIGN and k; U+1E9E and U+00DF */
    {"{\"n\":[{\"equals-ignore-case\":\"12\xe2\xb1\xa5\x33\x34\"}]}", "{\"n\":\"12\xc8\xba\x33\x34\"}", true},
    {"{\"n\":[{\"equals-ignore-case\":\"12\xc8\xba\x33\x34\"}]}", "{\"n\":\"12\xe2\xb1\xa5\x33\x34\"}", true},
    {"{\"n\":[{\"equals-ignore-case\":\"12\xc8\xba\x33\x34\"}]}", "{\"n\":\"12\xe2\xb1\xa5\x33\"}", false},
    {"{\"n\":[{\"equals-ignore-case\":\"12\xc8\xba\x33\x34\"}]}", "{\"n\":\"12\xe2\xb1\xa5\x33\x34\x35\"}",
     false},
    {"{\"n\":[{\"equals-ignore-case\":\"\xe2\xb1\xa5\"}]}", "{\"n\":\"\xc8\xba\"}", true},
    {"{\"n\":[{\"equals-ignore-case\":\"\xe2\xb1\xa5\"}]}", "{\"n\":\"a\"}", false},
    {"{\"n\":[{\"equals-ignore-case\":\"\xc3\x9f\"}]}", "{\"n\":\"SS\"}", false},
    {"{\"n\":[{\"equals-ignore-case\":\"SS\"}]}", "{\"n\":\"\xc3\x9f\"}", false},
    {"{\"n\":[{\"equals-ignore-case\":\"ss\"}]}", "{\"n\":\"\xc3\x9f\"}", false},
    {"{\"n\":[{\"equals-ignore-case\":\"\xe1\xba\x9e\"}]}", "{\"n\":\"\xc3\x9f\"}", true},
    {"{\"n\":[{\"equals-ignore-case\":\"\xc4\xb1\"}]}", "{\"n\":\"I\"}", false},
    {"{\"n\":[{\"equals-ignore-case\":\"I\"}]}", "{\"n\":\"\xc4\xb1\"}", false},
    {"{\"n\":[{\"equals-ignore-case\":\"i\"}]}", "{\"n\":\"\xc4\xb0\"}", false},
    {"{\"n\":[{\"equals-ignore-case\":\"I\"}]}", "{\"n\":\"i\"}", true},
    {"{\"n\":[{\"equals-ignore-case\":\"k\"}]}", "{\"n\":\"\xe2\x84\xaa\"}", true},
    {"{\"n\":[{\"equals-ignore-case\":\"\xe2\x84\xaa\"}]}", "{\"n\":\"K\"}", true},
    {"{\"n\":[{\"equals-ignore-case\":\"\xce\xa3\"}]}", "{\"n\":\"\xcf\x82\"}", true},
    {"{\"n\":[{\"equals-ignore-case\":\"\xc7\x84\"}]}", "{\"n\":\"\xc7\x85\"}", true},
    {"{\"n\":[{\"equals-ignore-case\":\"\xf0\x90\x90\x80\"}]}", "{\"n\":\"\xf0\x90\x90\xa8\"}", true},
    {"{\"n\":[{\"equals-ignore-case\":\"\xce\xb0\"}]}", "{\"n\":\"\xce\xa5\xcc\x88\xcc\x81\"}", false},
    {"{\"n\":[{\"equals-ignore-case\":\"\xe4\xb8\xad\"}]}", "{\"n\":\"\xe4\xb8\xad\"}", true},
    {"{\"s\":[{\"prefix\":{\"equals-ignore-case\":\"\xe2\xb1\xa5\x62\"}}]}", "{\"s\":\"\xc8\xba\x42\x63\"}",
     true},
    {"{\"s\":[{\"prefix\":{\"equals-ignore-case\":\"\xe2\xb1\xa5\x62\"}}]}", "{\"s\":\"\xc8\xba\"}", false},
    {"{\"s\":[{\"suffix\":{\"equals-ignore-case\":\"x\xe2\xb1\xa5y\"}}]}", "{\"s\":\"abX\xc8\xbaY\"}", true},
    {"{\"s\":[{\"suffix\":{\"equals-ignore-case\":\"x\xc8\xbay\"}}]}", "{\"s\":\"X\xe2\xb1\xa5Y\"}", true},
    {"{\"s\":[{\"suffix\":{\"equals-ignore-case\":\"x\xe2\xb1\xa5y\"}}]}", "{\"s\":\"\xc8\xbaY\"}", false},
    {"{\"s\":[{\"suffix\":{\"equals-ignore-case\":\"\xe2\xb1\xa5\"}}]}", "{\"s\":\"a\xc8\xba\"}", true},
    {"{\"s\":[{\"suffix\":{\"equals-ignore-case\":\"\xe2\xb1\xa5\"}}]}", "{\"s\":\"\xc8\xba\x61\"}", false},
    /* unicode exact: escapes decode to the same UTF-8 */
    {"{\"c\":[\"caf\xc3\xa9\"]}", "{\"c\":\"caf\\u00e9\"}", true},
    {"{\"c\":[\"caf\xc3\xa9\"]}", "{\"c\":\"cafe\"}", false},
    {"{\"c\":[\"\xf0\x9f\x98\x80\"]}", "{\"c\":\"\\ud83d\\ude00\"}", true},
    /* anything-but */
    {"{\"s\":[{\"anything-but\":\"initializing\"}]}", "{\"s\":\"running\"}", true},
    {"{\"s\":[{\"anything-but\":\"initializing\"}]}", "{\"s\":\"initializing\"}", false},
    {"{\"s\":[{\"anything-but\":\"initializing\"}]}", "{}", false},
    {"{\"s\":[{\"anything-but\":\"a\"}]}", "{\"s\":null}", true},
    {"{\"s\":[{\"anything-but\":[\"stopped\",\"overloaded\"]}]}", "{\"s\":\"stopped\"}", false},
    {"{\"s\":[{\"anything-but\":[\"stopped\",\"overloaded\"]}]}", "{\"s\":\"overloaded\"}", false},
    {"{\"s\":[{\"anything-but\":[\"stopped\",\"overloaded\"]}]}", "{\"s\":\"ok\"}", true},
    {"{\"x\":[{\"anything-but\":[100,200]}]}", "{\"x\":100}", false},
    {"{\"x\":[{\"anything-but\":[100,200]}]}", "{\"x\":100.0}", false},
    {"{\"x\":[{\"anything-but\":[100,200]}]}", "{\"x\":101}", true},
    {"{\"x\":[{\"anything-but\":[100,200]}]}", "{\"x\":\"100\"}", true},
    {"{\"x\":[{\"anything-but\":123}]}", "{\"x\":123}", false},
    {"{\"x\":[{\"anything-but\":123}]}", "{\"x\":124}", true},
    {"{\"r\":[{\"anything-but\":{\"prefix\":\"us-\"}}]}", "{\"r\":\"us-east-1\"}", false},
    {"{\"r\":[{\"anything-but\":{\"prefix\":\"us-\"}}]}", "{\"r\":\"eu-west-1\"}", true},
    {"{\"f\":[{\"anything-but\":{\"suffix\":\".png\"}}]}", "{\"f\":\"a.png\"}", false},
    {"{\"f\":[{\"anything-but\":{\"suffix\":\".png\"}}]}", "{\"f\":\"a.jpg\"}", true},
    {"{\"s\":[{\"anything-but\":{\"equals-ignore-case\":[\"init\",\"STOP\"]}}]}", "{\"s\":\"INIT\"}", false},
    {"{\"s\":[{\"anything-but\":{\"equals-ignore-case\":[\"init\",\"STOP\"]}}]}", "{\"s\":\"stop\"}", false},
    {"{\"s\":[{\"anything-but\":{\"equals-ignore-case\":\"init\"}}]}", "{\"s\":\"run\"}", true},
    {"{\"p\":[{\"anything-but\":{\"wildcard\":\"*/lib/*\"}}]}", "{\"p\":\"/usr/lib/x\"}", false},
    {"{\"p\":[{\"anything-but\":{\"wildcard\":[\"*/lib/*\",\"*.so\"]}}]}", "{\"p\":\"/x/y.so\"}", false},
    {"{\"p\":[{\"anything-but\":{\"wildcard\":\"*/lib/*\"}}]}", "{\"p\":\"/usr/bin/x\"}", true},
    {"{\"s\":[{\"anything-but\":\"a\"}]}", "{\"s\":[\"a\",\"b\"]}", true},
    {"{\"s\":[{\"anything-but\":\"a\"}]}", "{\"s\":[\"a\"]}", false},
    /* anything-but with lists of prefixes, suffixes, equals-ignore-case and wildcard values */
    {"{\"a\":[{\"anything-but\":{\"prefix\":[\"$\",\"%\"]}}]}", "{\"a\":\"$x\"}", false},
    {"{\"a\":[{\"anything-but\":{\"prefix\":[\"$\",\"%\"]}}]}", "{\"a\":\"%\"}", false},
    {"{\"a\":[{\"anything-but\":{\"prefix\":[\"$\",\"%\"]}}]}", "{\"a\":\"x$\"}", true},
    {"{\"a\":[{\"anything-but\":{\"prefix\":[\"$\",\"%\"]}}]}", "{\"a\":\"\"}", true},
    {"{\"a\":[{\"anything-but\":{\"prefix\":[\"$\",\"%\"]}}]}", "{\"a\":5}", true},
    {"{\"a\":[{\"anything-but\":{\"prefix\":[\"$\",\"%\"]}}]}", "{}", false},
    {"{\"a\":[{\"anything-but\":{\"prefix\":[\"$\",\"%\"]}}]}", "{\"a\":[\"$1\",\"%2\"]}", false},
    {"{\"a\":[{\"anything-but\":{\"prefix\":[\"$\",\"%\"]}}]}", "{\"a\":[\"$1\",\"3\"]}", true},
    {"{\"a\":[{\"anything-but\":{\"prefix\":[\"us-\"]}}]}", "{\"a\":\"us-east-1\"}", false},
    {"{\"a\":[{\"anything-but\":{\"prefix\":[\"us-\"]}}]}", "{\"a\":\"US-east-1\"}", true},
    {"{\"f\":[{\"anything-but\":{\"suffix\":[\".png\",\".jpg\"]}}]}", "{\"f\":\"a.jpg\"}", false},
    {"{\"f\":[{\"anything-but\":{\"suffix\":[\".png\",\".jpg\"]}}]}", "{\"f\":\"a.png\"}", false},
    {"{\"f\":[{\"anything-but\":{\"suffix\":[\".png\",\".jpg\"]}}]}", "{\"f\":\"a.gif\"}", true},
    {"{\"f\":[{\"anything-but\":{\"suffix\":[\".png\",\".jpg\"]}}]}", "{\"f\":\"png\"}", true},
    {"{\"s\":[{\"anything-but\":{\"equals-ignore-case\":[\"\xe2\xb1\xa5\",\"b\"]}}]}", "{\"s\":\"\xc8\xba\"}",
     false},
    {"{\"s\":[{\"anything-but\":{\"equals-ignore-case\":[\"\xe2\xb1\xa5\",\"b\"]}}]}", "{\"s\":\"B\"}",
     false},
    {"{\"s\":[{\"anything-but\":{\"equals-ignore-case\":[\"\xe2\xb1\xa5\",\"b\"]}}]}", "{\"s\":\"c\"}", true},
    {"{\"s\":[{\"anything-but\":{\"equals-ignore-case\":[\"ss\"]}}]}", "{\"s\":\"\xc3\x9f\"}", true},
    {"{\"p\":[{\"anything-but\":{\"wildcard\":[\"*.so\",\"/lib/*\"]}}]}", "{\"p\":\"/lib/a\"}", false},
    {"{\"p\":[{\"anything-but\":{\"wildcard\":[\"*.so\",\"/lib/*\"]}}]}", "{\"p\":\"/bin/a\"}", true},
    /* numeric: numbers compared as numbers, never strings */
    {"{\"p\":[{\"numeric\":[\">\",0,\"<=\",5]}]}", "{\"p\":5}", true},
    {"{\"p\":[{\"numeric\":[\">\",0,\"<=\",5]}]}", "{\"p\":0}", false},
    {"{\"p\":[{\"numeric\":[\">\",0,\"<=\",5]}]}", "{\"p\":0.5}", true},
    {"{\"p\":[{\"numeric\":[\">\",0,\"<=\",5]}]}", "{\"p\":5.0000001}", false},
    {"{\"p\":[{\"numeric\":[\"<=\",5,\">\",0]}]}", "{\"p\":3}", true},
    {"{\"p\":[{\"numeric\":[\"=\",300]}]}", "{\"p\":300.0}", true},
    {"{\"p\":[{\"numeric\":[\"=\",300]}]}", "{\"p\":3e2}", true},
    {"{\"p\":[{\"numeric\":[\"=\",300]}]}", "{\"p\":\"300\"}", false},
    {"{\"p\":[{\"numeric\":[\"<\",10]}]}", "{\"p\":-1e9}", true},
    {"{\"p\":[{\"numeric\":[\"<\",10]}]}", "{\"p\":10}", false},
    {"{\"p\":[{\"numeric\":[\">=\",1.5]}]}", "{\"p\":1.5}", true},
    {"{\"p\":[{\"numeric\":[\">\",1.5]}]}", "{\"p\":1.5}", false},
    {"{\"p\":[{\"numeric\":[\">\",0]}]}", "{\"p\":\"5\"}", false},
    {"{\"p\":[{\"numeric\":[\">\",0]}]}", "{\"p\":true}", false},
    {"{\"ts\":[{\"numeric\":[\">\",1700000000000]}]}", "{\"ts\":1745084650987}", true},
    {"{\"p\":[{\"numeric\":[\">\",10]}, {\"numeric\":[\"<\",0]}]}", "{\"p\":-3}", true},
    {"{\"p\":[{\"numeric\":[\">\",10]}, {\"numeric\":[\"<\",0]}]}", "{\"p\":3}", false},
    /* exists; null is present, an object is not a leaf value */
    {"{\"x\":[{\"exists\":true}]}", "{\"x\":1}", true},
    {"{\"x\":[{\"exists\":true}]}", "{}", false},
    {"{\"x\":[{\"exists\":true}]}", "{\"x\":null}", true},
    {"{\"x\":[{\"exists\":true}]}", "{\"x\":{\"y\":1}}", false},
    {"{\"x\":[{\"exists\":true}]}", "{\"x\":[]}", false},
    {"{\"x\":[{\"exists\":false}]}", "{}", true},
    {"{\"x\":[{\"exists\":false}]}", "{\"x\":1}", false},
    {"{\"x\":[{\"exists\":false}]}", "{\"x\":null}", false},
    {"{\"x\":[{\"exists\":false}]}", "{\"x\":\"\"}", false},
    {"{\"x\":[{\"exists\":false}]}", "{\"X\":1}", true},
    {"{\"d\":{\"c\":[{\"exists\":false}]}}", "{}", true},
    {"{\"d\":{\"c\":[{\"exists\":false}]}}", "{\"d\":5}", true},
    {"{\"d\":{\"c\":[{\"exists\":false}]}}", "{\"d\":{\"c\":{\"a\":1}}}", true},
    {"{\"d\":{\"c\":[{\"exists\":false}]}}", "{\"d\":{\"c\":[]}}", true},
    {"{\"d\":{\"c\":[{\"exists\":false}]}}", "{\"d\":{\"c\":0}}", false},
    {"{\"d\":{\"c\":[{\"exists\":false}]}}", "{\"d\":[{\"c\":0}]}", false},
    {"{\"d\":{\"c\":[{\"exists\":true}]}}", "{\"d\":[{\"b\":0},{\"c\":0}]}", true},
    {"{\"x\":[{\"exists\":false},\"a\"]}", "{\"x\":\"a\"}", true},
    {"{\"x\":[{\"exists\":false},\"a\"]}", "{}", true},
    {"{\"x\":[{\"exists\":false},\"a\"]}", "{\"x\":\"b\"}", false},
    /* cidr: IPv4 and IPv6, any prefix length, host bits ignored, only strings that are addresses */
    {"{\"ip\":[{\"cidr\":\"10.0.0.0/24\"}]}", "{\"ip\":\"10.0.0.0\"}", true},
    {"{\"ip\":[{\"cidr\":\"10.0.0.0/24\"}]}", "{\"ip\":\"10.0.0.255\"}", true},
    {"{\"ip\":[{\"cidr\":\"10.0.0.0/24\"}]}", "{\"ip\":\"10.0.1.0\"}", false},
    {"{\"ip\":[{\"cidr\":\"10.0.0.0/24\"}]}", "{\"ip\":\"9.255.255.255\"}", false},
    {"{\"ip\":[{\"cidr\":\"10.0.0.0/24\"}]}", "{\"ip\":\"10.0.0\"}", false},
    {"{\"ip\":[{\"cidr\":\"10.0.0.0/24\"}]}", "{\"ip\":\"10.0.0.1/32\"}", false},
    {"{\"ip\":[{\"cidr\":\"10.0.0.0/24\"}]}", "{\"ip\":\"10.0.0.256\"}", false},
    {"{\"ip\":[{\"cidr\":\"10.0.0.0/24\"}]}", "{\"ip\":\"host.example\"}", false},
    {"{\"ip\":[{\"cidr\":\"10.0.0.0/24\"}]}", "{\"ip\":10}", false},
    {"{\"ip\":[{\"cidr\":\"10.0.0.0/24\"}]}", "{\"ip\":\"::ffff:10.0.0.1\"}", false},
    {"{\"ip\":[{\"cidr\":\"10.0.0.0/24\"}]}", "{\"ip\":[\"1.1.1.1\",\"10.0.0.7\"]}", true},
    {"{\"ip\":[{\"cidr\":\"10.0.0.0/24\"}]}", "{}", false},
    {"{\"ip\":[{\"cidr\":\"220.160.153.171/31\"}]}", "{\"ip\":\"220.160.153.170\"}", true},
    {"{\"ip\":[{\"cidr\":\"220.160.153.171/31\"}]}", "{\"ip\":\"220.160.153.171\"}", true},
    {"{\"ip\":[{\"cidr\":\"220.160.153.171/31\"}]}", "{\"ip\":\"220.160.153.172\"}", false},
    {"{\"ip\":[{\"cidr\":\"220.160.153.171/31\"}]}", "{\"ip\":\"220.160.153.169\"}", false},
    {"{\"ip\":[{\"cidr\":\"1.2.3.4/32\"}]}", "{\"ip\":\"1.2.3.4\"}", true},
    {"{\"ip\":[{\"cidr\":\"1.2.3.4/32\"}]}", "{\"ip\":\"1.2.3.5\"}", false},
    {"{\"ip\":[{\"cidr\":\"1.2.3.4/0\"}]}", "{\"ip\":\"255.1.1.1\"}", true},
    {"{\"ip\":[{\"cidr\":\"1.2.3.4/0\"}]}", "{\"ip\":\"::1\"}", false},
    {"{\"ip\":[{\"cidr\":\"172.16.0.0/12\"}]}", "{\"ip\":\"172.31.255.1\"}", true},
    {"{\"ip\":[{\"cidr\":\"172.16.0.0/12\"}]}", "{\"ip\":\"172.32.0.1\"}", false},
    {"{\"ip\":[{\"cidr\":\"2001:db8::/32\"}]}", "{\"ip\":\"2001:db8:1::5\"}", true},
    {"{\"ip\":[{\"cidr\":\"2001:db8::/32\"}]}", "{\"ip\":\"2001:DB8::1\"}", true},
    {"{\"ip\":[{\"cidr\":\"2001:db8::/32\"}]}", "{\"ip\":\"2001:0db8:0000:0000:0000:0000:0000:0001\"}", true},
    {"{\"ip\":[{\"cidr\":\"2001:db8::/32\"}]}", "{\"ip\":\"2001:db9::1\"}", false},
    {"{\"ip\":[{\"cidr\":\"2001:db8::/32\"}]}", "{\"ip\":\"32.1.13.184\"}", false},
    {"{\"ip\":[{\"cidr\":\"2001:db8::/32\"}]}", "{\"ip\":\"2001:db8::1%eth0\"}", false},
    {"{\"ip\":[{\"cidr\":\"2001:db8::1/127\"}]}", "{\"ip\":\"2001:db8::\"}", true},
    {"{\"ip\":[{\"cidr\":\"2001:db8::1/127\"}]}", "{\"ip\":\"2001:db8::1\"}", true},
    {"{\"ip\":[{\"cidr\":\"2001:db8::1/127\"}]}", "{\"ip\":\"2001:db8::2\"}", false},
    {"{\"ip\":[{\"cidr\":\"2001:db8::1/128\"}]}", "{\"ip\":\"2001:db8:0::1\"}", true},
    {"{\"ip\":[{\"cidr\":\"2001:db8::1/128\"}]}", "{\"ip\":\"2001:db8::3\"}", false},
    {"{\"ip\":[{\"cidr\":\"fe80::/65\"}]}", "{\"ip\":\"fe80::7fff:ffff:ffff:ffff\"}", true},
    {"{\"ip\":[{\"cidr\":\"fe80::/65\"}]}", "{\"ip\":\"fe80::8000:0:0:0\"}", false},
    {"{\"ip\":[{\"cidr\":\"::/0\"}]}", "{\"ip\":\"ffff::1\"}", true},
    {"{\"ip\":[{\"cidr\":\"::/0\"}]}", "{\"ip\":\"1.2.3.4\"}", false},
    {"{\"ip\":[{\"cidr\":\"10.0.0.0/8\"},{\"cidr\":\"::1/128\"}]}", "{\"ip\":\"::1\"}", true},
    {"{\"ip\":[{\"anything-but\":{\"cidr\":\"10.0.0.0/8\"}}]}", "{\"ip\":\"10.1.2.3\"}", false},
    {"{\"ip\":[{\"anything-but\":{\"cidr\":\"10.0.0.0/8\"}}]}", "{\"ip\":\"11.0.0.1\"}", true},
    {"{\"ip\":[{\"anything-but\":{\"cidr\":\"10.0.0.0/8\"}}]}", "{\"ip\":\"localhost\"}", true},
    {"{\"ip\":[{\"anything-but\":{\"cidr\":\"10.0.0.0/8\"}}]}", "{\"ip\":7}", true},
    {"{\"ip\":[{\"anything-but\":{\"cidr\":\"10.0.0.0/8\"}}]}", "{}", false},
    {"{\"ip\":[{\"anything-but\":{\"cidr\":[\"10.0.0.0/8\",\"fd00::/8\"]}}]}", "{\"ip\":\"fd12::1\"}", false},
    {"{\"ip\":[{\"anything-but\":{\"cidr\":[\"10.0.0.0/8\",\"fd00::/8\"]}}]}", "{\"ip\":\"fe12::1\"}", true},
    /* wildcard */
    {"{\"f\":[{\"wildcard\":\"dir/*.png\"}]}", "{\"f\":\"dir/a.png\"}", true},
    {"{\"f\":[{\"wildcard\":\"dir/*.png\"}]}", "{\"f\":\"dir/sub/a.png\"}", true},
    {"{\"f\":[{\"wildcard\":\"dir/*.png\"}]}", "{\"f\":\"dir/a.jpg\"}", false},
    {"{\"f\":[{\"wildcard\":\"dir/*.png\"}]}", "{\"f\":\"xdir/a.png\"}", false},
    {"{\"f\":[{\"wildcard\":\"a*b*c\"}]}", "{\"f\":\"abc\"}", true},
    {"{\"f\":[{\"wildcard\":\"a*b*c\"}]}", "{\"f\":\"aXbYc\"}", true},
    {"{\"f\":[{\"wildcard\":\"a*b*c\"}]}", "{\"f\":\"acb\"}", false},
    {"{\"f\":[{\"wildcard\":\"a*b*c\"}]}", "{\"f\":\"ab\"}", false},
    {"{\"f\":[{\"wildcard\":\"ab*ba\"}]}", "{\"f\":\"aba\"}", false},
    {"{\"f\":[{\"wildcard\":\"ab*ba\"}]}", "{\"f\":\"abba\"}", true},
    {"{\"f\":[{\"wildcard\":\"*\"}]}", "{\"f\":\"\"}", true},
    {"{\"f\":[{\"wildcard\":\"*\"}]}", "{\"f\":\"anything\"}", true},
    {"{\"f\":[{\"wildcard\":\"*\"}]}", "{\"f\":5}", false},
    {"{\"f\":[{\"wildcard\":\"exact\"}]}", "{\"f\":\"exact\"}", true},
    {"{\"f\":[{\"wildcard\":\"exact\"}]}", "{\"f\":\"exactly\"}", false},
    {"{\"f\":[{\"wildcard\":\"a\\\\*b\"}]}", "{\"f\":\"a*b\"}", true},
    {"{\"f\":[{\"wildcard\":\"a\\\\*b\"}]}", "{\"f\":\"aXb\"}", false},
    {"{\"f\":[{\"wildcard\":\"back\\\\\\\\slash*\"}]}", "{\"f\":\"back\\\\slash1\"}", true},
    {"{\"f\":[{\"wildcard\":\"*.PNG\"}]}", "{\"f\":\"a.png\"}", false},
    /* arrays on both sides */
    {"{\"r\":[\"r1\"]}", "{\"r\":[\"r0\",\"r1\"]}", true},
    {"{\"r\":[\"r1\"]}", "{\"r\":[\"r0\",\"r2\"]}", false},
    {"{\"r\":[\"r1\"]}", "{\"r\":[]}", false},
    {"{\"r\":[\"r1\",\"r2\"]}", "{\"r\":[\"r2\",\"r3\"]}", true},
    {"{\"a\":[\"x\"]}", "{\"a\":[[\"y\",[\"x\"]]]}", true},
    {"{\"a\":[1]}", "{\"a\":[{\"b\":1}]}", false},
    {"{\"e\":{\"first\":[\"Anna\"],\"last\":[\"Smith\"]}}",
     "{\"e\":[{\"first\":\"John\",\"last\":\"Doe\"},{\"first\":\"Anna\",\"last\":\"Smith\"}]}", true},
    {"{\"e\":{\"first\":[\"Anna\"],\"last\":[\"Jones\"]}}",
     "{\"e\":[{\"first\":\"Anna\",\"last\":\"Smith\"},{\"first\":\"Peter\",\"last\":\"Jones\"}]}", false},
    {"{\"e\":{\"first\":[\"Peter\"]}}", "{\"e\":[[{\"first\":\"Anna\"}],[{\"first\":\"Peter\"}]]}", true},
    /* nested paths */
    {"{\"detail\":{\"state\":[\"running\"]}}", "{\"detail\":{\"state\":\"running\"}}", true},
    {"{\"detail\":{\"state\":[\"running\"]}}", "{\"detail\":\"running\"}", false},
    {"{\"detail\":{\"state\":[\"running\"]}}", "{\"state\":\"running\"}", false},
    {"{\"detail\":{\"state\":[\"running\"]}}", "{\"detail\":{\"s\":{\"state\":\"running\"}}}", false},
    {"{\"a\":{\"b\":{\"c\":[1]}}}", "{\"a\":{\"b\":{\"c\":1}}}", true},
    {"{\"a\":{\"b\":{\"c\":[1]}}}", "{\"a\":{\"b\":{\"c\":2}}}", false},
    {"{\"a.b\":[\"x\"]}", "{\"a\":{\"b\":\"x\"}}", false},
    {"{\"a.b\":[\"x\"]}", "{\"a.b\":\"x\"}", true},
    {"{\"source\":[\"s\"],\"detail\":{\"n\":[{\"numeric\":[\">\",1]}],\"t\":[\"a\"]}}",
     "{\"source\":\"s\",\"detail\":{\"n\":2,\"t\":\"a\"}}", true},
    {"{\"source\":[\"s\"],\"detail\":{\"n\":[{\"numeric\":[\">\",1]}],\"t\":[\"a\"]}}",
     "{\"source\":\"s\",\"detail\":{\"n\":2,\"t\":\"b\"}}", false},
    /* $or, mixed with plain fields, nested */
    {"{\"src\":[\"cw\"],\"$or\":[{\"m\":[\"cpu\"]},{\"n\":[\"ec2\"]}]}", "{\"src\":\"cw\",\"n\":\"ec2\"}",
     true},
    {"{\"src\":[\"cw\"],\"$or\":[{\"m\":[\"cpu\"]},{\"n\":[\"ec2\"]}]}", "{\"src\":\"cw\",\"m\":\"cpu\"}",
     true},
    {"{\"src\":[\"cw\"],\"$or\":[{\"m\":[\"cpu\"]},{\"n\":[\"ec2\"]}]}", "{\"src\":\"cw\"}", false},
    {"{\"src\":[\"cw\"],\"$or\":[{\"m\":[\"cpu\"]},{\"n\":[\"ec2\"]}]}", "{\"src\":\"x\",\"m\":\"cpu\"}",
     false},
    {"{\"$or\":[{\"a\":[1]},{\"b\":[2],\"$or\":[{\"c\":[3]},{\"d\":[4]}]}]}", "{\"b\":2,\"d\":4}", true},
    {"{\"$or\":[{\"a\":[1]},{\"b\":[2],\"$or\":[{\"c\":[3]},{\"d\":[4]}]}]}", "{\"b\":2,\"d\":5}", false},
    {"{\"detail\":{\"$or\":[{\"a\":[1]},{\"b\":[2]}]}}", "{\"detail\":{\"b\":2}}", true},
    {"{\"detail\":{\"$or\":[{\"a\":[1]},{\"b\":[2]}]}}", "{\"detail\":{\"c\":2}}", false},
    {"{\"$or\":[{\"a\":[{\"exists\":false}]},{\"a\":[\"x\"]}]}", "{}", true},
    {"{\"$or\":[{\"a\":[{\"exists\":false}]},{\"a\":[\"x\"]}]}", "{\"a\":\"y\"}", false},
    {"{\"$or\":[{\"a\":[1]},{\"b\":[2]}],\"$or\":[{\"c\":[3]},{\"d\":[4]}]}", "{\"a\":1,\"d\":4}", true},
    {"{\"$or\":[{\"a\":[1]},{\"b\":[2]}],\"$or\":[{\"c\":[3]},{\"d\":[4]}]}", "{\"a\":1}", false},
    /* a field named again replaces the earlier one for that alternative (event-ruler): in a $or
     * branch, or after the $or, and through nested objects; other fields still apply */
    {"{\"name\":[\"a\",\"b\"],\"$or\":[{\"name\":[{\"anything-but\":\"a\"}]},{\"condition1\":[\"x\"]}]}",
     "{\"name\":\"c\"}", true},
    {"{\"name\":[\"a\",\"b\"],\"$or\":[{\"name\":[{\"anything-but\":\"a\"}]},{\"condition1\":[\"x\"]}]}",
     "{\"name\":\"b\"}", true},
    {"{\"name\":[\"a\",\"b\"],\"$or\":[{\"name\":[{\"anything-but\":\"a\"}]},{\"condition1\":[\"x\"]}]}",
     "{\"name\":\"a\"}", false},
    {"{\"name\":[\"a\",\"b\"],\"$or\":[{\"name\":[{\"anything-but\":\"a\"}]},{\"condition1\":[\"x\"]}]}",
     "{\"name\":\"a\",\"condition1\":\"x\"}", true},
    {"{\"name\":[\"a\",\"b\"],\"$or\":[{\"name\":[{\"anything-but\":\"a\"}]},{\"condition1\":[\"x\"]}]}",
     "{\"name\":\"c\",\"condition1\":\"y\"}", true},
    {"{\"name\":[\"a\",\"b\"],\"$or\":[{\"name\":[{\"anything-but\":\"a\"}]},{\"condition1\":[\"x\"]}]}",
     "{\"condition1\":\"x\"}", false},
    {"{\"$or\":[{\"name\":[\"x\"]},{\"c\":[1]}],\"name\":[\"y\"]}", "{\"name\":\"y\"}", true},
    {"{\"$or\":[{\"name\":[\"x\"]},{\"c\":[1]}],\"name\":[\"y\"]}", "{\"name\":\"x\"}", false},
    {"{\"$or\":[{\"name\":[\"x\"]},{\"c\":[1]}],\"name\":[\"y\"]}", "{\"name\":\"y\",\"c\":1}", true},
    {"{\"d\":{\"s\":[\"a\"],\"n\":[1]},\"$or\":[{\"d\":{\"s\":[\"b\"]}},{\"x\":[1]}]}",
     "{\"d\":{\"s\":\"b\",\"n\":1}}", true},
    {"{\"d\":{\"s\":[\"a\"],\"n\":[1]},\"$or\":[{\"d\":{\"s\":[\"b\"]}},{\"x\":[1]}]}",
     "{\"d\":{\"s\":\"b\",\"n\":2}}", false},
    {"{\"d\":{\"s\":[\"a\"],\"n\":[1]},\"$or\":[{\"d\":{\"s\":[\"b\"]}},{\"x\":[1]}]}",
     "{\"d\":{\"s\":\"a\",\"n\":1},\"x\":1}", true},
    {"{\"d\":{\"s\":[\"a\"],\"n\":[1]},\"$or\":[{\"d\":{\"s\":[\"b\"]}},{\"x\":[1]}]}",
     "{\"d\":{\"s\":\"a\",\"n\":1}}", false},
    {"{\"d\":{\"s\":[\"a\"],\"$or\":[{\"s\":[\"b\"]},{\"t\":[1]}]}}", "{\"d\":{\"s\":\"b\"}}", true},
    {"{\"d\":{\"s\":[\"a\"],\"$or\":[{\"s\":[\"b\"]},{\"t\":[1]}]}}", "{\"d\":{\"s\":\"b\",\"t\":1}}", true},
    {"{\"d\":{\"s\":[\"a\"],\"$or\":[{\"s\":[\"b\"]},{\"t\":[1]}]}}", "{\"d\":{\"s\":\"a\"}}", false},
    /* alternatives that are all the same field are merged into one tree: same answers */
    {"{\"d\":{\"$or\":[{\"a\":[{\"exists\":false}]},{\"b\":[2]}]}}", "{}", true},
    {"{\"d\":{\"$or\":[{\"a\":[{\"exists\":false}]},{\"b\":[2]}]}}", "{\"d\":[{\"a\":1}]}", false},
    {"{\"d\":{\"$or\":[{\"a\":[{\"exists\":false}]},{\"b\":[2]}]}}", "{\"d\":[{\"a\":1},{\"b\":3}]}", true},
    {"{\"d\":{\"$or\":[{\"a\":[1]},{\"b\":[2]}]}}", "{\"d\":[{\"a\":2},{\"b\":2}]}", true},
    {"{\"d\":{\"$or\":[{\"a\":[1]},{\"b\":[2]}]}}", "{\"d\":[{\"a\":2},{\"b\":1}]}", false},
    {"{\"d\":{\"e\":{\"$or\":[{\"a\":[1]},{\"b\":{\"$or\":[{\"c\":[1]},{\"f\":[2]}]}}]}}}",
     "{\"d\":{\"e\":{\"b\":[{\"c\":0},{\"f\":2}]}}}", true},
    {"{\"d\":{\"e\":{\"$or\":[{\"a\":[1]},{\"b\":{\"$or\":[{\"c\":[1]},{\"f\":[2]}]}}]}}}",
     "{\"d\":{\"e\":{\"b\":[{\"c\":0},{\"f\":1}]}}}", false},
    {"{\"a\":[1],\"a\":[2]}", "{\"a\":2}", true},
    {"{\"a\":[1],\"a\":[2]}", "{\"a\":1}", false},
    {"{\"e\":{\"k\":[\"x\"],\"$or\":[{\"v\":[1]},{\"w\":[2]}]}}",
     "{\"e\":[{\"k\":\"x\",\"v\":2},{\"k\":\"y\",\"v\":1}]}", false},
    {"{\"e\":{\"k\":[\"x\"],\"$or\":[{\"v\":[1]},{\"w\":[2]}]}}",
     "{\"e\":[{\"k\":\"y\"},{\"k\":\"x\",\"w\":2}]}", true},
    /* records that are not objects */
    {"{\"x\":[{\"exists\":false}]}", "\"just a string\"", true},
    {"{\"x\":[\"a\"]}", "[1,2]", false},
    {"{\"x\":[\"a\"]}", "[{\"x\":\"b\"},{\"x\":\"a\"}]", true},
    {"{\"x\":[\"a\"]}", "null", false},
    /* several patterns: OR */
    {"[{\"a\":[\"1\"]},{\"b\":[\"2\"]}]", "{\"b\":\"2\"}", true},
    {"[{\"a\":[\"1\"]},{\"b\":[\"2\"]}]", "{\"a\":\"2\",\"b\":\"1\"}", false},
    {"[]", "{\"anything\":1}", true},
    /* what the pattern sees per source: Kafka value parsed when JSON, SQS body */
    {"{\"value\":{\"temp\":[{\"numeric\":[\">\",30]}]}}", "{\"topic\":\"t\",\"value\":{\"temp\":31}}", true},
    {"{\"value\":{\"temp\":[{\"numeric\":[\">\",30]}]}}", "{\"topic\":\"t\",\"value\":\"temp=31\"}", false},
    {"{\"body\":{\"kind\":[\"order\"]}}", "{\"messageId\":\"1\",\"body\":{\"kind\":\"order\"}}", true},
    /* a pattern written as a string of JSON, Lambda style */
    {"[\"{\\\"a\\\":[1]}\"]", "{\"a\":1}", true},
    {"[{\"Pattern\":\"{\\\"a\\\":[1]}\"}]", "{\"a\":1}", true},
    {"[{\"Pattern\":\"{\\\"a\\\":[1]}\"}]", "{\"a\":2}", false},
};

static struct trg_filter *compile_text(const char *text, struct trg_errs *errs)
{
    cJSON *p = cJSON_Parse(text);
    assert_non_null(p);
    struct trg_filter *f = trg_filter_compile(p, "$.routes.r.filters", errs);
    cJSON_Delete(p);
    return f;
}

static void test_match_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < TRG_ARRAY_SIZE(match_cases); i++) {
        const struct mcase *mc = &match_cases[i];
        struct trg_errs errs = {0};
        struct trg_filter *f = compile_text(mc->pattern, &errs);
        if (!f)
            fail_msg("case %zu: %s does not compile: %s", i, mc->pattern,
                     errs.lines.n ? errs.lines.v[0] : "?");
        cJSON *rec = cJSON_Parse(mc->record);
        if (!rec)
            fail_msg("case %zu: bad record %s", i, mc->record);
        bool got = trg_filter_match(f, rec);
        if (got != mc->match)
            fail_msg("case %zu: pattern %s record %s: expected %s", i, mc->pattern, mc->record,
                     mc->match ? "match" : "no match");
        char why[256];
        assert_int_equal(trg_filter_explain(f, rec, why, sizeof why), mc->match);
        if (mc->match)
            assert_string_equal(why, "");
        else
            assert_true(strncmp(why, "pattern ", 8) == 0);
        cJSON_Delete(rec);
        trg_filter_free(f);
        trg_errs_free(&errs);
    }
}

struct ecase {
    const char *patterns;
    const char *error; /* the first error line, or a prefix of it */
};

static const struct ecase error_cases[] = {
    {"[{\"p\":[{\"numeric\":[\">\",0,\"<=\"]}]}]",
     "$.routes.r.filters[0].p: numeric expects operator/number pairs such as [\">\", 0, \"<=\", 5]"},
    {"[{\"d\":{\"p\":[{\"numeric\":[0,\">\"]}]}}]",
     "$.routes.r.filters[0].d.p: numeric expects operator/number"},
    {"[{\"p\":[{\"numeric\":[\"=\",1,\"<\",2]}]}]", "$.routes.r.filters[0].p: numeric: \"=\" stands alone"},
    {"[{\"p\":[{\"numeric\":[\">\",5,\"<\",1]}]}]", "$.routes.r.filters[0].p: numeric: the range is empty"},
    {"[{\"p\":[{\"numeric\":[\">\",5,\"<\",5]}]}]", "$.routes.r.filters[0].p: numeric: the range is empty"},
    {"[{\"p\":[{\"numeric\":[\">\",1,\">\",2]}]}]", "$.routes.r.filters[0].p: numeric: two lower bounds"},
    {"[{\"p\":[{\"numeric\":[\"<\",1,\"<=\",2]}]}]", "$.routes.r.filters[0].p: numeric: two upper bounds"},
    {"[{\"p\":[{\"numeric\":[\"~\",1]}]}]", "$.routes.r.filters[0].p: numeric: unknown operator \"~\""},
    {"[{\"p\":[{\"numeric\":\">5\"}]}]", "$.routes.r.filters[0].p: numeric expects"},
    {"[{\"p\":[{\"prefix\":5}]}]", "$.routes.r.filters[0].p: prefix expects a string"},
    {"[{\"p\":[{\"suffix\":{\"x\":\"y\"}}]}]", "$.routes.r.filters[0].p: suffix expects a string"},
    {"[{\"p\":[{\"equals-ignore-case\":5}]}]",
     "$.routes.r.filters[0].p: equals-ignore-case expects a string"},
    {"[{\"p\":[{\"bogus\":1}]}]", "$.routes.r.filters[0].p: unknown operator \"bogus\""},
    {"[{\"p\":[{\"cidr\":\"10.0.0.0\"}]}]",
     "$.routes.r.filters[0].p: cidr: \"10.0.0.0\" is not an address block such as \"10.0.0.0/24\""},
    {"[{\"p\":[{\"cidr\":\"10.0.0.256/8\"}]}]",
     "$.routes.r.filters[0].p: cidr: \"10.0.0.256/8\" is not an address"},
    {"[{\"p\":[{\"cidr\":\"10.0.0/8\"}]}]", "$.routes.r.filters[0].p: cidr: \"10.0.0/8\" is not an address"},
    {"[{\"p\":[{\"cidr\":\"/8\"}]}]", "$.routes.r.filters[0].p: cidr: \"/8\" is not an address"},
    {"[{\"p\":[{\"cidr\":\"10.0.0.0/8/8\"}]}]",
     "$.routes.r.filters[0].p: cidr: \"10.0.0.0/8/8\" is not an address"},
    {"[{\"p\":[{\"cidr\":\"host/8\"}]}]", "$.routes.r.filters[0].p: cidr: \"host/8\" is not an address"},
    {"[{\"p\":[{\"cidr\":\"10.0.0.0/33\"}]}]", "$.routes.r.filters[0].p: cidr: \"10.0.0.0/33\": the prefix "
                                               "length after / is a number from 0 to 32 for IPv4"},
    {"[{\"p\":[{\"cidr\":\"10.0.0.0/\"}]}]",
     "$.routes.r.filters[0].p: cidr: \"10.0.0.0/\": the prefix length"},
    {"[{\"p\":[{\"cidr\":\"10.0.0.0/-1\"}]}]",
     "$.routes.r.filters[0].p: cidr: \"10.0.0.0/-1\": the prefix length"},
    {"[{\"p\":[{\"cidr\":\"10.0.0.0/ 8\"}]}]",
     "$.routes.r.filters[0].p: cidr: \"10.0.0.0/ 8\": the prefix length"},
    {"[{\"p\":[{\"cidr\":\"10.0.0.0/0008\"}]}]",
     "$.routes.r.filters[0].p: cidr: \"10.0.0.0/0008\": the prefix length"},
    {"[{\"p\":[{\"cidr\":\"::/129\"}]}]", "$.routes.r.filters[0].p: cidr: \"::/129\": the prefix length "
                                          "after / is a number from 0 to 128 for IPv6"},
    {"[{\"p\":[{\"cidr\":5}]}]", "$.routes.r.filters[0].p: cidr expects a string such as \"10.0.0.0/24\""},
    {"[{\"p\":[{\"cidr\":[\"10.0.0.0/8\"]}]}]", "$.routes.r.filters[0].p: cidr expects a string"},
    {"[{\"d\":{\"ip\":[{\"cidr\":\"1.2.3.4/40\"}]}}]", "$.routes.r.filters[0].d.ip: cidr: \"1.2.3.4/40\""},
    {"[{\"p\":[{\"anything-but\":{\"cidr\":[\"10.0.0.0/8\",\"x\"]}}]}]",
     "$.routes.r.filters[0].p: anything-but cidr: \"x\" is not an address block"},
    {"[{\"p\":[{\"anything-but\":{\"cidr\":[]}}]}]",
     "$.routes.r.filters[0].p: anything-but cidr expects a string or a non-empty list of strings"},
    {"[{\"p\":[{\"anything-but\":{\"cidr\":[\"10.0.0.0/8\",1]}}]}]",
     "$.routes.r.filters[0].p: anything-but cidr expects a string or a non-empty list"},
    {"[{\"p\":[{\"prefix\":\"a\",\"suffix\":\"b\"}]}]",
     "$.routes.r.filters[0].p: an operator object has exactly one key"},
    {"[{\"p\":[{}]}]", "$.routes.r.filters[0].p: an operator object has exactly one key"},
    {"[{\"p\":[]}]", "$.routes.r.filters[0].p: an empty list matches nothing"},
    {"[{\"p\":\"x\"}]", "$.routes.r.filters[0].p: expects a list of allowed values"},
    {"[{\"p\":5}]", "$.routes.r.filters[0].p: expects a list of allowed values"},
    {"[{\"p\":[[\"a\"]]}]", "$.routes.r.filters[0].p: a list of allowed values holds"},
    {"[{}]", "$.routes.r.filters[0]: an empty object matches nothing"},
    {"[{\"a\":[1]},{\"d\":{}}]", "$.routes.r.filters[1].d: an empty object matches nothing"},
    {"[{\"$or\":[{\"a\":[\"x\"]}]}]", "$.routes.r.filters[0].$or: $or expects an array of at least two"},
    {"[{\"$or\":{\"a\":[\"x\"]}}]", "$.routes.r.filters[0].$or: $or expects an array of at least two"},
    {"[{\"$or\":[{\"a\":[\"x\"]},5]}]", "$.routes.r.filters[0].$or[1]: $or expects"},
    {"[{\"$or\":[{\"a\":[\"x\"]},{\"b\":[{\"exists\":1}]}]}]",
     "$.routes.r.filters[0].$or[1].b: exists expects true or false"},
    {"[{\"w\":[{\"wildcard\":\"a**b\"}]}]",
     "$.routes.r.filters[0].w: wildcard: consecutive * are not allowed"},
    {"[{\"w\":[{\"wildcard\":\"a\\\\b\"}]}]", "$.routes.r.filters[0].w: wildcard: a backslash escapes only"},
    {"[{\"w\":[{\"wildcard\":\"a\\\\\"}]}]", "$.routes.r.filters[0].w: wildcard: a backslash escapes only"},
    {"[{\"w\":[{\"wildcard\":[\"a\"]}]}]", "$.routes.r.filters[0].w: wildcard expects a string"},
    {"[{\"x\":[{\"anything-but\":[\"a\",1]}]}]",
     "$.routes.r.filters[0].x: anything-but: a list holds only strings"},
    {"[{\"x\":[{\"anything-but\":[]}]}]", "$.routes.r.filters[0].x: anything-but: a list holds only strings"},
    {"[{\"x\":[{\"anything-but\":null}]}]", "$.routes.r.filters[0].x: anything-but expects"},
    {"[{\"x\":[{\"anything-but\":{\"prefix\":5}}]}]",
     "$.routes.r.filters[0].x: anything-but prefix expects a string or a non-empty list of strings"},
    {"[{\"x\":[{\"anything-but\":{\"prefix\":[]}}]}]",
     "$.routes.r.filters[0].x: anything-but prefix expects a string or a non-empty list of strings"},
    {"[{\"x\":[{\"anything-but\":{\"prefix\":[\"a\",1]}}]}]",
     "$.routes.r.filters[0].x: anything-but prefix expects a string or a non-empty list of strings"},
    {"[{\"x\":[{\"anything-but\":{\"prefix\":[[\"a\"]]}}]}]",
     "$.routes.r.filters[0].x: anything-but prefix expects a string or a non-empty list of strings"},
    {"[{\"x\":[{\"anything-but\":{\"prefix\":\"\"}}]}]",
     "$.routes.r.filters[0].x: anything-but prefix: an empty prefix would exclude every string"},
    {"[{\"x\":[{\"anything-but\":{\"prefix\":[\"a\",\"\"]}}]}]",
     "$.routes.r.filters[0].x: anything-but prefix: an empty prefix would exclude every string"},
    {"[{\"x\":[{\"anything-but\":{\"suffix\":[]}}]}]",
     "$.routes.r.filters[0].x: anything-but suffix expects a string or a non-empty list of strings"},
    {"[{\"x\":[{\"anything-but\":{\"suffix\":[\".a\",null]}}]}]",
     "$.routes.r.filters[0].x: anything-but suffix expects a string or a non-empty list of strings"},
    {"[{\"x\":[{\"anything-but\":{\"suffix\":\"\"}}]}]",
     "$.routes.r.filters[0].x: anything-but suffix: an empty suffix would exclude every string"},
    {"[{\"x\":[{\"anything-but\":{\"equals-ignore-case\":[]}}]}]",
     "$.routes.r.filters[0].x: anything-but equals-ignore-case expects a string or a non-empty list"},
    {"[{\"x\":[{\"anything-but\":{\"equals-ignore-case\":[\"a\",2]}}]}]",
     "$.routes.r.filters[0].x: anything-but equals-ignore-case expects a string or a non-empty list"},
    {"[{\"x\":[{\"anything-but\":{\"wildcard\":[]}}]}]",
     "$.routes.r.filters[0].x: anything-but wildcard expects a string or a non-empty list"},
    {"[{\"x\":[{\"anything-but\":{\"wildcard\":[\"a*\",true]}}]}]",
     "$.routes.r.filters[0].x: anything-but wildcard expects a string or a non-empty list"},
    {"[{\"x\":[{\"anything-but\":{\"prefix\":\"a\",\"suffix\":\"b\"}}]}]",
     "$.routes.r.filters[0].x: anything-but expects"},
    {"[{\"x\":[{\"anything-but\":{}}]}]", "$.routes.r.filters[0].x: anything-but expects"},
    {"[{\"x\":[{\"prefix\":[\"a\"]}]}]", "$.routes.r.filters[0].x: prefix expects a string"},
    {"[{\"x\":[{\"anything-but\":{\"numeric\":[\">\",1]}}]}]",
     "$.routes.r.filters[0].x: anything-but expects"},
    {"[{\"x\":[{\"anything-but\":{\"wildcard\":\"a**\"}}]}]",
     "$.routes.r.filters[0].x: wildcard: consecutive"},
    {"[{\"x\":[{\"exists\":\"yes\"}]}]", "$.routes.r.filters[0].x: exists expects true or false"},
    {"[5]", "$.routes.r.filters[0]: a pattern is a JSON object"},
    {"5", "$.routes.r.filters: filters expects a list of pattern objects"},
    {"[\"{bad\"]", "$.routes.r.filters[0]: the pattern string is not valid JSON"},
    {"[\"[1]\"]", "$.routes.r.filters[0]: a pattern is a JSON object"},
    {"[{\"detail\":{\"my key\":[{\"numeric\":[1]}]}}]",
     "$.routes.r.filters[0].detail[\"my key\"]: numeric expects"},
    {"[{\"a\":[1e400]}]", "$.routes.r.filters[0].a: value: number out of range"},
};

static void test_error_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < TRG_ARRAY_SIZE(error_cases); i++) {
        const struct ecase *ec = &error_cases[i];
        struct trg_errs errs = {0};
        struct trg_filter *f = compile_text(ec->patterns, &errs);
        if (f)
            fail_msg("case %zu: %s compiled", i, ec->patterns);
        if (errs.lines.n == 0)
            fail_msg("case %zu: %s: no error reported", i, ec->patterns);
        if (strncmp(errs.lines.v[0], ec->error, strlen(ec->error)) != 0)
            fail_msg("case %zu: %s:\n  got  %s\n  want %s", i, ec->patterns, errs.lines.v[0], ec->error);
        trg_errs_free(&errs);
    }
}

static void test_all_errors_in_one_pass(void **state)
{
    (void)state;
    struct trg_errs errs = {0};
    struct trg_filter *f =
        compile_text("[{\"a\":[],\"b\":[{\"numeric\":[]}]},{\"c\":[{\"nope\":1}]}]", &errs);
    assert_null(f);
    assert_int_equal(errs.lines.n, 3);
    assert_string_equal(errs.lines.v[0],
                        "$.routes.r.filters[0].a: an empty list matches nothing: give at least one "
                        "allowed value");
    assert_true(strncmp(errs.lines.v[1], "$.routes.r.filters[0].b: numeric expects", 40) == 0);
    assert_true(strncmp(errs.lines.v[2], "$.routes.r.filters[1].c: unknown operator \"nope\"", 48) == 0);
    trg_errs_free(&errs);
}

static void test_nesting_limit(void **state)
{
    (void)state;
    struct trg_buf b = {0};
    for (int depth = TRG_FILTER_MAX_DEPTH; depth <= TRG_FILTER_MAX_DEPTH + 1; depth++) {
        trg_buf_reset(&b);
        for (int i = 0; i < depth - 1; i++)
            trg_buf_adds(&b, "{\"a\":");
        trg_buf_adds(&b, "{\"x\":[1]}");
        for (int i = 0; i < depth - 1; i++)
            trg_buf_adds(&b, "}");
        struct trg_errs errs = {0};
        struct trg_filter *f = compile_text(b.data, &errs);
        if (depth <= TRG_FILTER_MAX_DEPTH) {
            assert_non_null(f);
        } else {
            assert_null(f);
            assert_non_null(strstr(errs.lines.v[0], "nested deeper than"));
        }
        trg_filter_free(f);
        trg_errs_free(&errs);
    }
    /* a record nested deeper than the array limit is not descended into, and nothing breaks */
    trg_buf_reset(&b);
    trg_buf_adds(&b, "{\"x\":");
    for (int i = 0; i < 200; i++)
        trg_buf_adds(&b, "[");
    trg_buf_adds(&b, "\"a\"");
    for (int i = 0; i < 200; i++)
        trg_buf_adds(&b, "]");
    trg_buf_adds(&b, "}");
    struct trg_errs errs = {0};
    struct trg_filter *f = compile_text("{\"x\":[\"a\"]}", &errs);
    cJSON *rec = cJSON_Parse(b.data);
    assert_non_null(rec);
    assert_false(trg_filter_match(f, rec));
    cJSON_Delete(rec);
    trg_filter_free(f);
    trg_buf_free(&b);
}

/* $or branches multiply into alternatives: up to TRG_FILTER_MAX_ALTERNATIVES compile, one more $or
 * beyond is an error naming it. */
static void test_alternatives_limit(void **state)
{
    (void)state;
    struct trg_buf b = {0};
    int limit_ors = 0;
    while ((1 << limit_ors) < TRG_FILTER_MAX_ALTERNATIVES)
        limit_ors++;
    assert_int_equal(1 << limit_ors, TRG_FILTER_MAX_ALTERNATIVES);
    for (int ors = limit_ors; ors <= limit_ors + 1; ors++) {
        trg_buf_reset(&b);
        trg_buf_adds(&b, "{\"src\":[\"s\"]");
        for (int i = 0; i < ors; i++)
            trg_buf_addf(&b, ",\"k%d\":{\"$or\":[{\"a\":[%d]},{\"b\":[%d]}]}", i, i, i);
        trg_buf_adds(&b, "}");
        struct trg_errs errs = {0};
        struct trg_filter *f = compile_text(b.data, &errs);
        if (ors == limit_ors) {
            assert_non_null(f);
            /* the last alternative: every k_i through its second branch */
            struct trg_buf r = {0};
            trg_buf_adds(&r, "{\"src\":\"s\"");
            for (int i = 0; i < ors; i++)
                trg_buf_addf(&r, ",\"k%d\":{\"b\":%d}", i, i);
            trg_buf_adds(&r, "}");
            cJSON *rec = cJSON_Parse(r.data);
            assert_true(trg_filter_match(f, rec));
            cJSON_ReplaceItemInObject(rec, "src", cJSON_CreateString("t"));
            assert_false(trg_filter_match(f, rec));
            cJSON_Delete(rec);
            trg_buf_free(&r);
        } else {
            char want[128];
            snprintf(want, sizeof want,
                     "$.routes.r.filters.k%d.$or: the $or branches combine into more than %d", ors - 1,
                     TRG_FILTER_MAX_ALTERNATIVES);
            assert_null(f);
            assert_int_equal(errs.lines.n, 1);
            if (strncmp(errs.lines.v[0], want, strlen(want)) != 0)
                fail_msg("got  %s\nwant %s", errs.lines.v[0], want);
        }
        trg_filter_free(f);
        trg_errs_free(&errs);
    }
    trg_buf_free(&b);
}

static void test_explain(void **state)
{
    (void)state;
    static const struct {
        const char *pattern, *record, *why;
    } cases[] = {
        {"{\"detail\":{\"state\":[\"running\"]}}", "{\"detail\":{\"state\":\"stopped\"}}",
         "pattern 0: detail.state: \"stopped\" matches none of the allowed values"},
        {"{\"detail\":{\"state\":[\"running\"]}}", "{\"detail\":{}}", "pattern 0: detail.state: missing"},
        {"{\"a\":[1],\"b\":[2]}", "{\"a\":1,\"b\":3}", "pattern 0: b: 3 matches none of the allowed values"},
        {"{\"a\":[1]}", "{\"a\":{\"x\":1}}", "pattern 0: a: is an object, not a value"},
        {"{\"a\":[1]}", "{\"a\":[2,3]}", "pattern 0: a: no element of the array matches"},
        {"{\"a\":[1]}", "{\"a\":[]}", "pattern 0: a: is an array without values"},
        {"{\"a\":[{\"exists\":false}]}", "{\"a\":0}",
         "pattern 0: a: exists, but the pattern wants it absent"},
        {"[{\"a\":[1]},{\"b\":[2]}]", "{}", "pattern 0: a: missing; pattern 1: b: missing"},
        {"{\"$or\":[{\"a\":[1]},{\"b\":[2]}]}", "{\"b\":3}",
         "pattern 0: no $or branch matches (first: a: missing)"},
        {"{\"e\":{\"n\":[\"x\"],\"m\":[1]}}", "{\"e\":[{\"n\":\"y\"},{\"n\":\"x\",\"m\":2}]}",
         "pattern 0: e.n: \"y\" matches none of the allowed values"},
        {"{\"n\":[\"a\",\"b\"],\"$or\":[{\"n\":[{\"anything-but\":\"a\"}]},{\"c\":[\"x\"]}]}",
         "{\"n\":\"a\"}",
         "pattern 0: no $or branch matches (first: n: \"a\" matches none of the allowed values)"},
        {"{\"d\":{\"$or\":[{\"a\":[1]},{\"b\":[2]}]}}", "{\"d\":{\"b\":3}}",
         "pattern 0: no $or branch matches (first: d.a: missing)"},
        {"{\"ip\":[{\"cidr\":\"10.0.0.0/8\"}]}", "{\"ip\":\"11.0.0.1\"}",
         "pattern 0: ip: \"11.0.0.1\" matches none of the allowed values"},
    };
    for (size_t i = 0; i < TRG_ARRAY_SIZE(cases); i++) {
        struct trg_errs errs = {0};
        struct trg_filter *f = compile_text(cases[i].pattern, &errs);
        assert_non_null(f);
        cJSON *rec = cJSON_Parse(cases[i].record);
        char why[512];
        assert_false(trg_filter_explain(f, rec, why, sizeof why));
        if (strcmp(why, cases[i].why) != 0)
            fail_msg("case %zu:\n  got  %s\n  want %s", i, why, cases[i].why);
        /* a short buffer is truncated and terminated */
        char small[12];
        memset(small, 'x', sizeof small);
        assert_false(trg_filter_explain(f, rec, small, sizeof small));
        assert_int_equal(strlen(small), sizeof small - 1);
        assert_false(trg_filter_explain(f, rec, NULL, 0));
        cJSON_Delete(rec);
        trg_filter_free(f);
    }
}

static void test_empty_and_null(void **state)
{
    (void)state;
    cJSON *rec = cJSON_Parse("{\"a\":1}");
    char why[64] = "junk";
    assert_true(trg_filter_match(NULL, rec));
    assert_true(trg_filter_explain(NULL, rec, why, sizeof why));
    assert_string_equal(why, "");
    assert_int_equal(trg_filter_count(NULL), 0);
    struct trg_errs errs = {0};
    struct trg_filter *f = trg_filter_compile(NULL, "$.routes.r.filters", &errs);
    assert_non_null(f);
    assert_int_equal(trg_filter_count(f), 0);
    assert_true(trg_filter_match(f, rec));
    trg_filter_free(f);
    trg_filter_free(NULL);
    /* a single pattern object instead of a list */
    f = compile_text("{\"a\":[1]}", &errs);
    assert_int_equal(trg_filter_count(f), 1);
    assert_true(trg_filter_match(f, rec));
    assert_false(trg_filter_match(f, NULL));
    trg_filter_free(f);
    assert_int_equal(errs.lines.n, 0);
    cJSON_Delete(rec);
}

static void test_more_than_five_warns(void **state)
{
    (void)state;
    FILE *log = tmpfile();
    assert_non_null(log);
    trg_log_setup(TRG_LOG_INFO, TRG_LOG_TEXT, log);
    struct trg_errs errs = {0};
    struct trg_filter *f =
        compile_text("[{\"a\":[1]},{\"a\":[2]},{\"a\":[3]},{\"a\":[4]},{\"a\":[5]},{\"a\":[6]}]", &errs);
    assert_non_null(f);
    assert_int_equal(trg_filter_count(f), 6);
    cJSON *rec = cJSON_Parse("{\"a\":6}");
    assert_true(trg_filter_match(f, rec));
    cJSON_Delete(rec);
    trg_filter_free(f);
    char line[512] = "";
    rewind(log);
    size_t n = fread(line, 1, sizeof line - 1, log);
    line[n] = '\0';
    assert_non_null(strstr(line, "[filter:$.routes.r.filters]"));
    assert_non_null(strstr(line, "6 patterns"));
    fclose(log);
    trg_log_setup(TRG_LOG_INFO, TRG_LOG_TEXT, stderr);
    /* five do not warn */
    log = tmpfile();
    trg_log_setup(TRG_LOG_INFO, TRG_LOG_TEXT, log);
    f = compile_text("[{\"a\":[1]},{\"a\":[2]},{\"a\":[3]},{\"a\":[4]},{\"a\":[5]}]", &errs);
    assert_non_null(f);
    trg_filter_free(f);
    assert_int_equal(ftell(log), 0);
    fclose(log);
    trg_log_setup(TRG_LOG_INFO, TRG_LOG_TEXT, stderr);
}

/* Every allocation of the compiler can fail: it then returns NULL and leaks nothing (ASan checks). */
static void test_alloc_failures(void **state)
{
    (void)state;
    cJSON *p = cJSON_Parse(
        "[{\"source\":[\"a\",\"b\"],\"detail\":{\"n\":[{\"numeric\":[\">\",0,\"<=\",5]}],"
        "\"s\":[{\"anything-but\":{\"equals-ignore-case\":[\"x\",\"Y\"]}}],"
        "\"w\":[{\"wildcard\":\"a*b*c\"},{\"anything-but\":[1,2]}],"
        "\"$or\":[{\"a\":[{\"prefix\":\"p\"}]},{\"b\":[{\"suffix\":{\"equals-ignore-case\":\"S\"}}]}]}},"
        "\"{\\\"k\\\":[null]}\","
        "{\"ip\":[{\"cidr\":\"10.0.0.0/8\"},{\"anything-but\":{\"cidr\":[\"::1/128\",\"fd00::/8\"]}}],"
        "\"p\":[{\"anything-but\":{\"prefix\":[\"$\",\"%\"]}},{\"anything-but\":{\"suffix\":[\"x\"]}}],"
        "\"d\":{\"s\":[\"a\"]},\"$or\":[{\"d\":{\"s\":[\"b\"],\"$or\":[{\"t\":[1]},{\"u\":[2]}]}},"
        "{\"e\":[{\"equals-ignore-case\":\"\xc8\xba\"}]}]},"
        "{\"v\":{\"w\":{\"$or\":[{\"a\":[1]},{\"b\":{\"$or\":[{\"c\":[1]},{\"d\":[2]}]}}]}}}]");
    assert_non_null(p);
    bool done = false;
    for (long n = 0; n < 10000 && !done; n++) {
        struct trg_errs errs = {0};
        trg_alloc_fail_after(n);
        struct trg_filter *f = trg_filter_compile(p, "$.f", &errs);
        trg_alloc_fail_after(-1);
        if (f) {
            done = true;
            cJSON *rec = cJSON_Parse("{\"k\":null}");
            assert_true(trg_filter_match(f, rec));
            cJSON_Delete(rec);
        }
        trg_filter_free(f);
        trg_errs_free(&errs);
    }
    assert_true(done);
    cJSON_Delete(p);
}

/* Matching does not allocate: with every allocation failing it still answers. */
static void test_match_does_not_allocate(void **state)
{
    (void)state;
    struct trg_errs errs = {0};
    struct trg_filter *f = compile_text(
        "[{\"d\":{\"s\":[{\"equals-ignore-case\":\"A\"}],\"$or\":[{\"x\":[1]},"
        "{\"y\":[{\"wildcard\":\"*z*\"}]}]},"
        "\"ip\":[{\"cidr\":\"2001:db8::/32\"}],\"n\":[{\"suffix\":{\"equals-ignore-case\":\"\xc8\xba\"}}],"
        "\"p\":[{\"anything-but\":{\"prefix\":[\"$\",\"%\"]}}]}]",
        &errs);
    cJSON *rec =
        cJSON_Parse("{\"d\":[{\"s\":\"a\",\"y\":\"xzx\"}],\"ip\":\"2001:db8::7\",\"n\":\"x\xe2\xb1\xa5\","
                    "\"p\":\"q\"}");
    char why[128];
    trg_alloc_fail_after(0);
    assert_true(trg_filter_match(f, rec));
    assert_true(trg_filter_explain(f, rec, why, sizeof why));
    trg_alloc_fail_after(-1);
    cJSON_Delete(rec);
    trg_filter_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_table),
        cmocka_unit_test(test_error_table),
        cmocka_unit_test(test_all_errors_in_one_pass),
        cmocka_unit_test(test_nesting_limit),
        cmocka_unit_test(test_alternatives_limit),
        cmocka_unit_test(test_explain),
        cmocka_unit_test(test_empty_and_null),
        cmocka_unit_test(test_more_than_five_warns),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_match_does_not_allocate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
