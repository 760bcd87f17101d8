"""Build ``hospital_domain.csv``: the project's own labelled hospital-domain sentiment set (0 negative, 1 positive,
2 neutral).

Every row is made here, from hand-written phrase templates and hand-written full sentences; the label is the class
of the template or sentence list it comes from (a template is written for exactly one class, so no row is labelled
after the fact). Slots (hospital, department, doctor, staff, waiting time, symptom, …) are filled at random with
``random.Random(SEED)``; an optional platform-style prefix/suffix (emoji, hashtag, "@", URL) is added to some rows
without changing the class. Exact duplicates are dropped (first kept) and the rows are shuffled with the same seed,
so the output is byte-for-byte reproducible.

Run: ``python xinqiao/listening/data/sentiment/build_hospital_domain.py [--seed 20260601] [--per-class 1500]``
(writes the CSV next to this file). See README.md in this folder for how the set is used.
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

SEED = 20260601
PER_CLASS = 1500
OUTPUT = Path(__file__).resolve().parent / "hospital_domain.csv"

HOSPITALS = ["市一院", "市人民医院", "中心医院", "附属医院", "妇幼保健院", "中医院", "第二人民医院", "区医院", "省立医院",
             "儿童医院", "肿瘤医院", "这家医院", "这医院", "县医院", "社区卫生服务中心"]  # fmt: skip
DEPARTMENTS = ["心内科", "儿科", "急诊科", "骨科", "妇产科", "眼科", "口腔科", "消化内科", "皮肤科", "神经内科", "呼吸科",
               "肿瘤科", "内分泌科", "康复科", "中医科", "检验科", "放射科", "普外科", "泌尿外科", "耳鼻喉科", "产科",
               "发热门诊", "体检中心", "住院部", "门诊"]  # fmt: skip
DOCTORS = ["王医生", "李主任", "张大夫", "刘医生", "陈教授", "赵主任", "杨医生", "黄大夫", "周主任", "吴医生", "孙护士长",
           "郑医生", "主治医生", "值班医生", "主刀医生", "接诊的医生"]  # fmt: skip
STAFF = [
    "护士",
    "导医",
    "收费处的工作人员",
    "挂号窗口的人",
    "保安",
    "药房的人",
    "前台",
    "值班护士",
    "抽血的护士",
    "客服",
]
WAITS = ["三个小时", "一上午", "两个多小时", "四个小时", "一整天", "大半天", "五个小时", "一个半小时"]
SYMPTOMS = ["发烧", "咳嗽", "肚子疼", "头晕", "胸闷", "腰疼", "过敏", "骨折", "高血压", "血糖高", "失眠", "胃疼", "牙疼",
            "结石", "甲状腺结节"]  # fmt: skip
RELATIVES = ["我妈", "我爸", "孩子", "我老公", "我老婆", "奶奶", "爷爷", "我", "外婆", "我女儿", "我儿子", "家里老人"]
PROCEDURES = ["手术", "胃镜", "CT", "核磁共振", "B超", "抽血化验", "住院治疗", "拔牙", "复查", "产检", "体检", "输液"]
MONEY = ["三千多", "五百块", "两万", "八百", "一千二", "六千", "三百多"]
DISEASES = ["流感", "高血压", "糖尿病", "颈椎病", "脂肪肝", "过敏性鼻炎", "骨质疏松", "痛风", "湿疹", "近视", "幽门螺杆菌感染",
            "甲流", "带状疱疹", "冠心病"]  # fmt: skip
TIMES = [
    "周一",
    "周三上午",
    "下周二",
    "本周六",
    "5月20日",
    "国庆期间",
    "春节期间",
    "每周四下午",
    "明天",
    "10月1日至7日",
]

NEGATIVE_TEMPLATES = [
    "{h}{d}排队排了{w}，看病就五分钟，太折腾人了",
    "{h}的{s}态度太差了，问一句话就不耐烦，凶得要命",
    "{r}在{h}{d}{p}花了{m}，结果什么问题都没解决，感觉被坑了",
    "{h}{d}的{doc}根本不听病人说话，三句话就开单子，太敷衍了",
    "投诉{h}{d}！挂了号等了{w}，到点了医生说下班了让明天再来",
    "{h}乱收费，{p}明细里多了好几项根本没做的检查",
    "{r}{sym}去{h}看，{doc}说没事开了药就走，回家更严重了，差点耽误了",
    "{h}停车太难了，转了一个小时找不到车位，急死人",
    "{h}的卫生间又脏又臭，地上全是水，这还是医院吗",
    "{h}{d}一直让做各种检查，{p}做了三遍，明显过度医疗",
    "网上预约{h}的号根本抢不到，黄牛倒是有，一个号加价{m}",
    "{h}{d}误诊！{r}明明是{sym}，被当成普通感冒治了一个星期",
    "在{h}住院一周，{s}叫了半天都不来，输液回血了都没人管",
    "{h}的{s}对老人大吼大叫，一点耐心都没有，看着太心寒了",
    "{h}{d}的{doc}收红包，不给就拖着不安排{p}，必须曝光",
    "再也不去{h}了，{d}从挂号到拿药折腾了{w}，流程乱七八糟",
    "{h}{d}{p}后{r}伤口感染了，医院推卸责任，说是我们自己没护理好",
    "{h}的自助机三台坏了两台，没人管，队排到门外",
    "{r}在{h}急诊等了{w}没人看，疼得直冒汗，护士说再等等",
    "{h}{d}的报告出错，把别人的结果给了我们，差点做了不该做的{p}",
    "{h}的医保结算系统老出问题，来回跑了三趟都办不下来，气死了",
    "{h}{d}号源全是空的，电话打不通，公众号预约也一直失败",
    "被{h}的{doc}骂哭了，就因为多问了一句{p}的注意事项",
    "{h}的饭菜又贵又难吃，住院{r}根本吃不下",
    "{h}{d}太黑了，{p}开价{m}，别家医院一半的价钱",
    "{h}的{s}玩手机不理人，问路都不搭理，服务意识太差",
    "{h}{d}医生迟到一个多小时，病人在走廊站了一排，没有任何解释",
    "{r}在{h}做完{p}就发烧，问{doc}说正常，结果查出来是感染，太不负责了",
    "{h}{d}病房空调坏了三天没人修，{r}热得睡不着",
    "在{h}被插队好几次，{s}看见了也不管，秩序太差",
    "{h}又拖又推，{r}的病从{d}转到另一个科又转回来，没人愿意接",
    "{h}{d}的{doc}开了一堆自费药，一问全是没必要的，无语",
    "对{h}非常失望，{p}约了一个月，到了又说机器坏了改期",
    "{h}{d}的{doc}连病历都没看就下结论，太草率了，差评",
    "{h}发热门诊冷冰冰的，{r}{sym}烧到三十九度还让在外面排队",
]
POSITIVE_TEMPLATES = [
    "感谢{h}{d}的{doc}，{r}的{p}很成功，恢复得很好",
    "{h}{d}的{doc}特别有耐心，讲得很清楚，一点都不敷衍，点赞",
    "给{h}{d}的{s}点个赞，态度超级好，一直安慰{r}",
    "{r}在{h}住院一周，护士们都很细心很温柔，真的很感动",
    "{h}{d}{doc}医术高明，{r}的{sym}困扰了好几年，终于治好了",
    "今天去{h}{p}，流程很顺，半个小时就全部做完了，效率很高",
    "{h}的环境干净整洁，指引清楚，{s}很热情，体验很好",
    "真心感谢{h}{d}的医护团队，把{r}从鬼门关拉了回来",
    "{h}{d}的{doc}是我见过最负责的医生，晚上还打电话来问{r}的情况",
    "给{h}送了一面锦旗，感谢{doc}妙手回春，医德高尚",
    "{h}{d}看病体验太好了，线上预约准时就诊，不用排队",
    "{r}{sym}去{h}{d}，{doc}很专业，开的药吃了两天就好了",
    "{h}{d}的{s}特别贴心，看{r}行动不便主动推轮椅送到诊室",
    "强烈推荐{h}{d}，{doc}技术好人也好，收费也合理",
    "在{h}做{p}一点都不疼，{doc}手法很轻，还一直跟我聊天缓解紧张",
    "为{h}{d}的{doc}打call，凌晨还在手术台上，辛苦了",
    "{h}的{s}好温暖，{r}哭闹的时候一直耐心哄着，太感动了",
    "{h}{d}{doc}不开大处方，能不做的检查都不让做，良心医生",
    "多亏了{h}急诊的快速抢救，{r}脱离了危险，感恩",
    "{h}{d}的{doc}讲解很细致，把{p}的风险和注意事项都说得明明白白，很安心",
    "{r}在{h}顺利出院了，感谢{d}全体医护人员的精心照顾",
    "{h}服务越来越好了，自助机、线上缴费都很方便，{s}也很热心",
    "{h}{d}的护士扎针又快又准，{r}一点都没哭，太厉害了",
    "{h}{d}{doc}的随访电话很及时，出院后的康复指导也很到位，满意",
    "第一次在{h}看{d}，从挂号到取药很顺畅，{doc}态度很亲切，好评",
    "{h}{d}专业又温暖，{r}的{p}做得很好，全家都很感激",
    "今天在{h}碰到的{doc}特别好，耐心解答了我所有的问题，谢谢",
    "{h}的义诊活动很实用，{doc}免费给{r}看了{sym}的问题，给医院点赞",
    "{h}{d}医护人员非常敬业，病房每天都打扫得很干净，住得很舒心",
    "为{h}{d}点赞，{doc}凭经验及时发现了{r}的问题，救了一命",
    "{h}获评省级优质服务示范医院，实至名归，服务确实越来越好",
    "骄傲！{h}{d}团队成功完成高难度{p}，患者恢复得很好",
]
NEUTRAL_TEMPLATES = [
    "{h}{d}门诊时间调整通知：自{t}起，{d}上午8:00-12:00、下午14:00-17:30接诊",
    "{h}{d}{doc}{t}停诊一天，已预约的患者请改约其他时间",
    "请问{h}{d}{t}有专家号吗？怎么在网上预约？",
    "{h}举办{dis}防治知识讲座，时间{t}，地点门诊楼三楼会议室",
    "{dis}的常见症状有哪些？{h}{d}医生提醒：出现{sym}应及时就诊",
    "{t}带{r}去{h}{d}{p}，需要空腹吗？",
    "{h}{d}将于{t}开展免费义诊活动，内容包括{dis}筛查和健康咨询",
    "关于{h}{t}门急诊安排的通知：急诊二十四小时正常开放",
    "{h}新院区{t}启用，{d}搬迁至新院区门诊楼二楼",
    "{h}{d}开设{dis}专病门诊，每周四下午出诊",
    "科普｜{dis}患者日常饮食应注意什么？{h}{d}营养师为您解答",
    "{r}在{h}{d}做了{p}，报告说要{t}才能拿到",
    "{h}挂号可以通过微信公众号、自助机或人工窗口办理",
    "今天陪{r}去{h}{d}复诊，医生调整了用药剂量，下个月再去复查",
    "{h}{d}{doc}的出诊时间是每周一、周三上午",
    "{h}发布{t}门诊专家出诊安排，详情见官方公众号",
    "请问{h}的{p}大概需要多少钱？医保能报销吗？",
    "{h}{d}{t}起实行分时段预约就诊，请患者按预约时间段到院",
    "{h}召开{dis}多学科诊疗研讨会，来自多家医院的专家参加",
    "{h}{d}提醒：{p}前一天晚上10点后禁食禁水",
    "据{h}统计，{d}今年门诊量同比有所增加",
    "{h}{d}{doc}在{t}的健康直播中讲解了{dis}的预防方法",
    "去{h}{d}看{sym}，需要先去分诊台还是直接挂号？",
    "{h}核酸检测点{t}起调整为每天8:00至16:00",
    "{dis}是一种常见病，{h}{d}专家建议定期体检，早发现早治疗",
    "{h}{d}的{p}预约电话是多少？",
    "{h}{t}组织开展消防应急演练，门诊秩序正常",
    "{h}{d}招聘护士若干名，报名时间截至{t}",
    "{r}{sym}，准备{t}去{h}{d}看看",
    "{h}地址在人民路88号，可乘坐公交12路、35路到达",
    "{h}{d}住院患者探视时间为每天下午15:00至19:00",
    "{h}开通{d}互联网门诊，复诊患者可在线开药",
    "{h}与社区卫生服务中心签约，开展{dis}慢病随访管理",
    "秋冬季是{dis}高发期，{h}{d}医生介绍了几种预防措施",
    "{h}{d}{t}上午的号已经约满，下午还有少量号源",
    "时间：{t}，地点：{h}门诊大厅，内容：{dis}免费筛查，名额有限",
    "{h}{d}健康讲座预告：{doc}讲解{dis}的日常管理，{t}下午两点开始",
    "【通知】{h}{t}起门诊楼部分区域施工，{d}临时搬至综合楼三楼",
    "{h}{d}团队完成一例{p}，相关情况已在医院官网公布",
    "{h}召开{t}工作会议，部署{dis}防控和门诊服务相关工作",
    "{h}{d}推出{dis}患者随访服务，出院患者可在公众号登记",
    "有没有人知道{h}停车场晚上几点关门？",
    "{h}{d}的{doc}是看{dis}的吗？想{t}去挂个号",
    "{h}{d}{t}开展{dis}主题科普进社区活动，地点在街道服务中心",
    "转发科普：{dis}患者要按时服药、定期复查，{h}{d}提醒",
    "{h}和{d}的联系电话、出诊时间汇总，需要的可以收藏",
    "{r}在{h}{d}住院，每天下午可以探视一小时",
    "{h}{d}专家解读：{dis}的检查项目和费用说明",
    "{h}{t}将举行新护士入职培训，部分病区由资深护士带教",
]

NEGATIVE_SENTENCES = [
    "看个病比上班还累，挂号缴费检查取药每一步都要排长队",
    "医生全程不抬头，话没说完就让下一个进来了",
    "花了几千块检查了一圈，最后说查不出原因，让回家观察",
    "护士扎了四针都没扎进去，孩子哭得撕心裂肺",
    "急诊室里一团乱，病人躺在走廊上也没人过问",
    "说好的专家号，结果进去是个实习生看的，太坑了",
    "收费处算错了账，多收了两百块，找了三个部门都没人管",
    "病房里蟑螂乱爬，床单好几天没换，卫生太差",
    "医生开完药连用法都不说，问了还嫌我烦",
    "预约了早上八点，十一点才叫到号，一上午全耗在这",
    "出院结算排了两个小时，窗口只开了一个",
    "这种态度也配当医生？病人不是来受气的",
    "手术后疼得受不了，叫了医生三次都说正常，根本不管",
    "检查报告和病历对不上，问谁都说不是自己的责任",
    "黄牛在门口公开倒号，医院保安视而不见",
    "导医台的人一问三不知，让我们楼上楼下跑了五趟",
    "夜里发高烧去急诊，值班医生在睡觉，叫了半天才起来",
    "明明是小毛病，非要住院，一住就是一周，就为了多收钱",
    "做完检查没人通知结果，打电话一直占线，太耽误事了",
    "药房发错了药，幸亏我自己看了一眼，不然后果不堪设想",
    "差评，垃圾医院，再也不来了",
    "太失望了，医生护士都很冷漠，没有一点人情味",
    "真的无语，排队三小时看病三分钟",
    "服务态度恶劣，投诉电话永远打不通",
    "不负责任的医院，耽误了病情谁来负责？",
    "乱开检查乱收费，看个感冒花了八百",
    "住院一周瘦了五斤，饭菜难以下咽，护工也不专业",
    "孩子打完针起了一身疹子，医生说和药无关，也不给处理",
    "挂号系统又崩了，白跑一趟",
    "被推来推去，三个科室都说不归他们管",
]
POSITIVE_SENTENCES = [
    "医生很耐心，把检查结果一项一项给我解释清楚了，非常感谢",
    "护士姐姐们太好了，每天都来问我疼不疼，比家人还细心",
    "手术很成功，主刀医生技术真的没话说",
    "整个就诊过程很顺利，服务周到，值得信赖",
    "感谢医生的精心治疗，现在身体恢复得很好",
    "医院环境干净，工作人员热情，看病体验比以前好太多了",
    "遇到这么负责的好医生，真是病人的福气",
    "儿科的医生护士都好温柔，孩子一点都不怕了",
    "线上挂号线上缴费，报告手机上就能看，太方便了",
    "医生没有乱开药，只开了必要的，给好医生点赞",
    "从急诊到手术只用了四十分钟，绿色通道真的救命",
    "感恩遇到这么好的医护团队，妈妈顺利出院了",
    "护工阿姨特别勤快，病房收拾得干干净净",
    "医生的一句安慰让我安心了很多，谢谢您",
    "这是我去过服务最好的医院，强烈推荐",
    "复查结果一切正常，谢谢医生这半年的悉心指导",
    "麻醉医生很专业，手术全程没有感觉到疼",
    "导医小姑娘很热情，一路带着我们找到了诊室",
    "康复科的治疗师很专业，爸爸现在能自己走路了",
    "好医院好医生，全家都很满意",
    "非常满意，医术精湛，态度和蔼",
    "凌晨去急诊，医生护士依然很有耐心，辛苦了",
    "太感谢了，困扰多年的老毛病终于治好了",
    "这次住院体验很好，每个环节都有人耐心指导",
    "医生特意加了号给我们看，真的很暖心",
    "检查出结果很快，医生当天就给出了治疗方案，效率很高",
    "为白衣天使点赞，你们辛苦了",
    "出院那天全家给医生鞠了一躬，真心感谢",
    "体检中心流程清晰，早上去的中午就做完了，很满意",
    "医德好医术高，是真正为病人着想的医生",
]
NEUTRAL_SENTENCES = [
    "医院门诊部周六周日正常上班，节假日另行通知",
    "专家门诊需要提前一天在公众号预约挂号",
    "请问做胃镜前需要准备什么？",
    "明天早上要去医院抽血，记得不能吃早饭",
    "医保卡和身份证都可以用来挂号",
    "医院今年新增了一百张床位，预计年底投入使用",
    "市卫健委发布了本月医疗机构服务质量通报",
    "流感季来临，医生建议老人和儿童及时接种疫苗",
    "体检报告一般在检查后三到五个工作日出具",
    "请问医院附近有停车场吗？一小时多少钱？",
    "住院需要带哪些证件？押金交多少？",
    "医院开展世界高血压日主题宣传活动",
    "下周要陪爸爸去复查，不知道要不要提前挂号",
    "医院急诊电话和门诊咨询电话分别是多少？",
    "专家提醒，每天食盐摄入量应控制在五克以内",
    "今年医院开展了日间手术，部分手术当天即可出院",
    "医院官方公众号发布了下月专家出诊表",
    "门诊楼一楼设有自助打印机，可以打印检查报告",
    "医院与高校合作建立了临床教学基地",
    "孩子预防接种需要带疫苗接种本",
    "新冠和流感的症状有什么区别？",
    "请问周末能做核磁共振吗",
    "医院的夜间门诊开到晚上九点",
    "各位家长注意，儿科门诊挂号需要携带孩子的医保卡",
    "今天去医院拿了体检报告，过两天再找医生看看",
    "医院发布关于规范陪护管理的公告",
    "保持规律作息和适量运动有助于控制血压",
    "请问这个科室的医生周几出诊？",
    "医院正在进行信息系统升级，部分自助机暂停使用",
    "心肺复苏培训将在下周三下午举行，欢迎市民报名",
    "天气转凉，心脑血管疾病患者要注意保暖，按时服药",
    "体检报告上的箭头不一定都代表生病，需要医生结合情况判断",
    "医院新院区门诊楼预计明年投入使用，部分科室将陆续搬迁",
    "市卫健委通报本季度全市医疗机构门急诊人次统计",
    "请问医院的互联网医院可以开哪些药？能寄到家吗？",
    "医院今年计划新增两个病区，床位将达到一千二百张",
    "今天的讲座讲了高血压的用药误区，记了一些笔记",
    "医院发布了招聘公告，岗位包括临床医生、护士和药师",
    "献血屋周末照常开放，献血前请吃清淡早餐",
    "国家医保药品目录调整，部分药品报销范围有变化",
]

PREFIXES = ["", "", "", "", "#{h}# ", "【{h}】", "@{h} ", "转发：", "吐槽一下，", "说一下，", "记录一下："]
SUFFIXES = ["", "", "", "", " 😡", " 😭", " 👍", " [图片]", " https://t.cn/A6xYz{n}", " #看病# ", "。", "！", "…",
            "（来自微博）", " @{h}"]  # fmt: skip
NEUTRAL_SUFFIXES = [
    "",
    "",
    "",
    "",
    " https://t.cn/A6xYz{n}",
    "。",
    "（详见官方公众号）",
    " #健康科普#",
    " [图片]",
    "？",
]
POSITIVE_SUFFIXES = ["", "", "", "", " 👍", " ❤️", " 🙏", "。", "！", "！！", " [图片]", " #感谢白衣天使#"]
NEGATIVE_SUFFIXES = ["", "", "", "", " 😡", " 😤", " 😭", "。", "！", "！！！", " [图片]", " #投诉#", "？？？"]


def fill(template: str, rng: random.Random) -> str:
    return template.format(
        h=rng.choice(HOSPITALS), d=rng.choice(DEPARTMENTS), doc=rng.choice(DOCTORS), s=rng.choice(STAFF),
        w=rng.choice(WAITS), sym=rng.choice(SYMPTOMS), r=rng.choice(RELATIVES), p=rng.choice(PROCEDURES),
        m=rng.choice(MONEY), dis=rng.choice(DISEASES), t=rng.choice(TIMES), n=rng.randint(100, 999),
    )  # fmt: skip


def make_row(label: int, rng: random.Random) -> str:
    templates, sentences, suffixes = {
        0: (NEGATIVE_TEMPLATES, NEGATIVE_SENTENCES, NEGATIVE_SUFFIXES),
        1: (POSITIVE_TEMPLATES, POSITIVE_SENTENCES, POSITIVE_SUFFIXES),
        2: (NEUTRAL_TEMPLATES, NEUTRAL_SENTENCES, NEUTRAL_SUFFIXES),
    }[label]
    parts = []
    for _ in range(1 if rng.random() < 0.75 else 2):  # a quarter of the rows are two sentences of the same class
        if rng.random() < 0.3:
            parts.append(rng.choice(sentences))
        else:
            parts.append(fill(rng.choice(templates), rng))
    text = "，".join(parts)
    prefix = fill(rng.choice(PREFIXES), rng) if label != 2 else fill(rng.choice(PREFIXES[:6]), rng)
    suffix = fill(rng.choice(suffixes if rng.random() < 0.7 else SUFFIXES if label != 2 else NEUTRAL_SUFFIXES), rng)
    return (prefix + text + suffix).strip()


def build(*, seed: int = SEED, per_class: int = PER_CLASS) -> list[tuple[str, int]]:
    rng = random.Random(seed)
    rows: list[tuple[str, int]] = []
    seen: set[str] = set()
    for label in (0, 1, 2):
        # Every hand-written sentence appears at least once as it is.
        pool = [*{0: NEGATIVE_SENTENCES, 1: POSITIVE_SENTENCES, 2: NEUTRAL_SENTENCES}[label]]
        made = 0
        attempts = 0
        while made < per_class and attempts < per_class * 20:
            attempts += 1
            text = pool.pop() if pool else make_row(label, rng)
            if text in seen:
                continue
            seen.add(text)
            rows.append((text, label))
            made += 1
    rng.shuffle(rows)
    return rows


def write(rows: list[tuple[str, int]], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["text", "label"])
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--per-class", type=int, default=PER_CLASS)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    rows = build(seed=args.seed, per_class=args.per_class)
    write(rows, args.output)
    counts = {label: sum(1 for _text, value in rows if value == label) for label in (0, 1, 2)}
    print(f"wrote {len(rows)} rows to {args.output} (negative {counts[0]}, positive {counts[1]}, neutral {counts[2]})")  # noqa: T201


if __name__ == "__main__":
    main()
